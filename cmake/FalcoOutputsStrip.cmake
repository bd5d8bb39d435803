# falco_outputs_install_strip(<path relative to the install prefix> <strip option>...)
# At install time, strips debug information from a file just installed, as distributions do
# (shared library: --strip-unneeded; static library: --strip-debug; program: no option), when
# FALCO_OUTPUTS_STRIP is ON (the default). Set it OFF to keep the debug information, e.g. for a
# distribution's own debug-package split. Honours DESTDIR and `cmake --install --prefix`.
function(falco_outputs_install_strip path)
  if(NOT FALCO_OUTPUTS_STRIP)
    return()
  endif()
  if(NOT CMAKE_STRIP)
    message(FATAL_ERROR "falco_outputs: FALCO_OUTPUTS_STRIP is ON but no strip program was found "
                        "(install binutils, or configure with -DFALCO_OUTPUTS_STRIP=OFF)")
  endif()
  install(CODE "
    set(_fo_file \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${path}\")
    execute_process(COMMAND \"${CMAKE_STRIP}\" ${ARGN} \"\${_fo_file}\" RESULT_VARIABLE _fo_rc)
    if(NOT _fo_rc EQUAL 0)
      message(FATAL_ERROR \"falco_outputs: ${CMAKE_STRIP} ${ARGN} \${_fo_file} failed\")
    endif()")
endfunction()
