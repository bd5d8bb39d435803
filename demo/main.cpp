// falco-outputs-demo: a small engine-like host of the falco-outputs library (see options.cpp
// for the command line and demo/README.md for its uses).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "generate.h"
#include "metrics_server.h"
#include "options.h"
#include "outputs_handle.h"
#include "replay.h"
#include "sample_alerts.h"
#include "signals.h"

namespace {

constexpr int kExitCannotRun = 126;
constexpr uint64_t kMaxMalformedStatus = 125;

int cannot_run(const std::string &what) {
  std::fprintf(stderr, "falco-outputs-demo: %s\n", what.c_str());
  return kExitCannotRun;
}

}  // namespace

int main(int argc, char **argv) {
  using namespace demo;
  Options opts;
  std::string error;
  if (!parse_options(argc, argv, opts, error))
    return cannot_run(error + " (see falco-outputs-demo --help)");
  if (opts.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (opts.version) {
    std::printf("falco-outputs-demo (falco-outputs %s)\n", falco_outputs_version());
    return 0;
  }

  // Open the input first so a wrong path fails here, on the terminal, even with --daemon.
  int input = -1;
  if (opts.mode == Mode::Replay) {
    if (opts.replay_path == "-") {
      input = STDIN_FILENO;
    } else {
      input = open(opts.replay_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (input < 0) return cannot_run(opts.replay_path + ": " + std::strerror(errno));
    }
  }
  // Before the library starts its threads.
  if (opts.daemon ? !daemonize(opts.pidfile, error) : !write_pidfile(opts.pidfile, error))
    return cannot_run(error);
  // Before the handle exists, so an early SIGUSR1 is a no-op rather than the default kill.
  if (!install_signal_handlers(error)) return cannot_run(error);

  OutputsHandle out;
  if (!out.open(opts.outputs, error)) return cannot_run("cannot start: " + error);
  MetricsServer metrics;
  if (!opts.metrics_listen.empty() && !metrics.start(opts.metrics_listen, out.get(), error))
    return cannot_run(error);

  uint64_t malformed = 0;
  bool read_ok = true;
  std::string summary;
  switch (opts.mode) {
    case Mode::Sample:
    case Mode::Replay: {
      ReplayStats st;
      std::string name = opts.mode == Mode::Sample ? "sample"
                         : opts.replay_path == "-" ? "stdin"
                                                   : opts.replay_path;
      if (opts.mode == Mode::Sample) {
        replay_text(std::string_view(kSampleAlerts, kSampleAlertsLen), name, out, st);
      } else {
        read_ok = replay_fd(input, name, input == STDIN_FILENO, out, st, error);
      }
      malformed = st.malformed;
      summary = "replayed " + std::to_string(st.lines) + " lines from " + name + ": " +
                std::to_string(st.emitted) + " alerts emitted, " + std::to_string(st.malformed) +
                " malformed lines skipped";
      break;
    }
    case Mode::Generate: {
      GenerateStats st;
      generate(opts.generate_count, opts.rate, out, st);
      summary = "generated " + std::to_string(st.emitted) + " alerts";
      break;
    }
  }
  if (stop_signal() != 0)
    summary += std::string("; stopped by ") + (stop_signal() == SIGINT ? "SIGINT" : "SIGTERM");
  summary += "; SIGUSR1 handled " + std::to_string(reopen_signals_seen()) + " times";
  metrics.stop();  // before the handle it reads is closed
  bool clean = out.shutdown(summary);
  if (!read_ok) return cannot_run(error);
  if (!clean) return kExitCannotRun;
  return static_cast<int>(malformed < kMaxMalformedStatus ? malformed : kMaxMalformedStatus);
}
