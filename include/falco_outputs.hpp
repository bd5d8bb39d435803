/**
 * @file falco_outputs.hpp
 * falco-outputs for C++ hosts that already have a name falco_outputs (Falco's output class is
 * one): the C API of falco_outputs.h, unchanged, inside namespace falco_outputs_api (or the
 * namespace named by FALCO_OUTPUTS_CXX_NAMESPACE, defined before this include):
 *
 *     #include <falco_outputs.hpp>
 *     falco_outputs_api::falco_outputs *handle = nullptr;
 *     falco_outputs_api::falco_outputs_init(&options, &handle, err, sizeof err);
 *
 * The functions keep their C names and linkage, so this links against the same library.
 * Include it before anything that includes falco_outputs.h without a namespace.
 */
#ifndef FALCO_OUTPUTS_HPP
#define FALCO_OUTPUTS_HPP

#ifndef FALCO_OUTPUTS_CXX_NAMESPACE
#define FALCO_OUTPUTS_CXX_NAMESPACE falco_outputs_api
#endif

/* Quoted: found beside this file first, never a host's own falco_outputs.h. */
#include "falco_outputs.h"

#endif /* FALCO_OUTPUTS_HPP */
