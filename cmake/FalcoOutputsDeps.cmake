# The system libraries the Rust static library needs at link time: the one list, read by the
# CMake target (here, for the source tree and the installed package) and by the pkg-config
# file's Libs.private (CMakeLists.txt). It is what
#   cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs
# prints on Linux/glibc, in its order: the system's OpenSSL through the openssl crate (the syslog
# channel's TLS; the same libssl/libcrypto the shared libcurl links), the system's libcurl
# through the curl crate, then what std needs.
# scripts/check-cinstall compares it with the Libs.private cargo-c derives from that output, and
# scripts/check-consumers links a program with it; update it when a dependency brings a native
# library.
set(FALCO_OUTPUTS_NATIVE_STATIC_LIBS ssl crypto curl gcc_s util rt pthread m dl c)

# falco_outputs_find_deps([QUIET|REQUIRED]) finds the libraries that have a CMake package and
# sets _FALCO_OUTPUTS_LINK_DEPS to FALCO_OUTPUTS_NATIVE_STATIC_LIBS with those names replaced
# by their imported targets (the rest are linked by name), the list to put on
# falco_outputs::falco_outputs's INTERFACE_LINK_LIBRARIES. It sets _FALCO_OUTPUTS_DEPS_MISSING
# to the packages not found (empty when all are there).
macro(falco_outputs_find_deps)
  set(_FALCO_OUTPUTS_DEPS_MISSING "")
  set(THREADS_PREFER_PTHREAD_FLAG ON)
  find_package(Threads ${ARGN})
  find_package(CURL ${ARGN})
  foreach(_fo_dep Threads CURL)
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
  set(_FALCO_OUTPUTS_LINK_DEPS "")
  foreach(_fo_native IN LISTS FALCO_OUTPUTS_NATIVE_STATIC_LIBS)
    if(_fo_native STREQUAL "curl")
      list(APPEND _FALCO_OUTPUTS_LINK_DEPS CURL::libcurl)
    elseif(_fo_native STREQUAL "pthread")
      list(APPEND _FALCO_OUTPUTS_LINK_DEPS Threads::Threads)
    elseif(_fo_native STREQUAL "dl")
      list(APPEND _FALCO_OUTPUTS_LINK_DEPS ${CMAKE_DL_LIBS})
    elseif(NOT _fo_native STREQUAL "c")
      # libc comes with every link; the others by name (-lgcc_s, -lm...).
      list(APPEND _FALCO_OUTPUTS_LINK_DEPS ${_fo_native})
    endif()
  endforeach()
endmacro()
