// --generate N --rate R: synthetic alerts shaped like the ones Falco's default rules raise,
// each carrying its sequence number 1..N in the evt.num field (what the rotation tests count).
#pragma once

#include <cstdint>

#include "outputs_handle.h"

namespace demo {

struct GenerateStats {
  uint64_t emitted = 0;
};

// Emits `count` alerts (0: until SIGINT/SIGTERM), `rate` per second (0: as fast as possible)
// on an absolute schedule, so a late wake-up catches up instead of drifting.
void generate(uint64_t count, double rate, OutputsHandle &out, GenerateStats &stats);

}  // namespace demo
