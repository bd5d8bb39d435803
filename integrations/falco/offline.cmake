# Included after every project() of the Falco build (CMAKE_PROJECT_INCLUDE) by ./build.
# libs' container_plugin.cmake downloads the container plugin unless a target of that name
# already exists; the offline build has no network and the tests load no container plugin.
if(NOT TARGET container_plugin)
	add_custom_target(container_plugin)
endif()
