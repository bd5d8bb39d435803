// --replay: Falco JSON alert lines (a file, stdin, or the bundled sample) through
// falco_outputs_emit, one line at a time as they arrive.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "outputs_handle.h"

namespace demo {

struct ReplayStats {
  uint64_t lines = 0;  // non-empty lines read
  uint64_t emitted = 0;
  uint64_t malformed = 0;  // reported on stderr with their line number, skipped
};

// Reads `fd` to its end, or until SIGINT/SIGTERM: then at once, or with `drain_on_stop` (a
// relay reading stdin) once the writer closes or 2 s have passed, whichever comes first.
// Every complete line read is emitted. `name` labels the error messages. False (with `error`)
// only on a read error.
bool replay_fd(int fd, const std::string &name, bool drain_on_stop, OutputsHandle &out,
               ReplayStats &stats, std::string &error);

// The same over text in memory (the bundled sample).
void replay_text(std::string_view text, const std::string &name, OutputsHandle &out,
                 ReplayStats &stats);

}  // namespace demo
