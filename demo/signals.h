// The host's own signal handling, as an engine like Falco does it:
//   SIGUSR1         -> falco_outputs_reopen() straight from the handler (async-signal-safe);
//   SIGINT, SIGTERM -> a flag; the main loop notices it and closes the library.
#pragma once

#include <cstdint>
#include <string>

#include "falco_outputs.h"

namespace demo {

// Installs the handlers. SIGUSR1 restarts interrupted reads; SIGINT/SIGTERM interrupt them so
// a replay blocked on stdin stops promptly.
bool install_signal_handlers(std::string &error);

// The handle SIGUSR1 reopens. Set it to nullptr before closing the handle.
void set_reopen_target(falco_outputs *outputs);

bool stop_requested();
int stop_signal();              // the signal that asked to stop, 0 if none
int stop_requests();            // how many SIGINT/SIGTERM arrived
uint64_t reopen_signals_seen();  // SIGUSR1s handled (the kernel coalesces pending ones)

// -d/--daemon: fork, the parent exits 0, the child starts a new session with stdout on
// /dev/null (so stdout alerts are discarded, as with Falco). Must run before the library
// starts its threads. Writes the child's pid to `pidfile` when given.
bool daemonize(const std::string &pidfile, std::string &error);

bool write_pidfile(const std::string &pidfile, std::string &error);

}  // namespace demo
