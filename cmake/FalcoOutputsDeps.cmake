# The system libraries the Rust static library needs at link time (what
# `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs` lists:
# libcurl and OpenSSL through the curl crate, then pthread, dl, m, rt, util from std).
# Used by the source tree's CMakeLists.txt and by the installed falco_outputsConfig.cmake.
#
# falco_outputs_find_deps([QUIET]) finds them and sets _FALCO_OUTPUTS_LINK_DEPS to the list to
# put on falco_outputs::falco_outputs's INTERFACE_LINK_LIBRARIES; it sets
# _FALCO_OUTPUTS_DEPS_MISSING to the names of those not found (empty when all are there).
macro(falco_outputs_find_deps)
  set(_FALCO_OUTPUTS_DEPS_MISSING "")
  set(THREADS_PREFER_PTHREAD_FLAG ON)
  find_package(Threads ${ARGN})
  find_package(CURL ${ARGN})
  find_package(OpenSSL ${ARGN})
  foreach(_fo_dep Threads CURL OpenSSL)
    if(NOT ${_fo_dep}_FOUND)
      list(APPEND _FALCO_OUTPUTS_DEPS_MISSING ${_fo_dep})
    endif()
  endforeach()
  if(NOT TARGET CURL::libcurl AND CURL_FOUND)
    add_library(CURL::libcurl UNKNOWN IMPORTED)
    set_target_properties(CURL::libcurl PROPERTIES
      IMPORTED_LOCATION "${CURL_LIBRARIES}"
      INTERFACE_INCLUDE_DIRECTORIES "${CURL_INCLUDE_DIRS}")
  endif()
  set(_FALCO_OUTPUTS_LINK_DEPS
      CURL::libcurl OpenSSL::SSL OpenSSL::Crypto Threads::Threads ${CMAKE_DL_LIBS} m rt util)
endmacro()
