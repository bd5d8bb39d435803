// The command line of falco-outputs-demo.
#pragma once

#include <cstdint>
#include <string>

#include "outputs_handle.h"

namespace demo {

enum class Mode { Sample, Replay, Generate };

struct Options {
  OutputsConfig outputs;
  Mode mode = Mode::Sample;
  std::string replay_path;  // "-" for stdin
  uint64_t generate_count = 0;
  double rate = 0;
  bool daemon = false;
  std::string pidfile;
  std::string metrics_listen;  // empty: no metrics server
  bool help = false;
  bool version = false;
};

extern const char *const kUsage;

// False with `error` on a bad command line.
bool parse_options(int argc, char **argv, Options &opts, std::string &error);

}  // namespace demo
