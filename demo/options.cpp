#include "options.h"

#include <getopt.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace demo {

const char *const kUsage =
    "Usage: falco-outputs-demo [options]\n"
    "An engine-like host of the falco-outputs library: replays Falco JSON alerts or generates\n"
    "synthetic ones, and delivers them through the channels a falco.yaml enables.\n"
    "With no --replay/--generate it replays a bundled sample of alerts.\n"
    "\n"
    "  -c, --config FILE     a falco.yaml (default: built in: stdout_output enabled, text)\n"
    "  -o KEY=VALUE          Falco's override syntax, e.g. -o json_output=true (repeatable)\n"
    "      --replay FILE|-   Falco JSON alert lines (json_output: true), one per line\n"
    "      --generate N      N synthetic alerts (0: until SIGINT/SIGTERM), evt.num = 1..N\n"
    "      --rate R          alerts per second for --generate (default: as fast as possible)\n"
    "      --hostname NAME   the hostname put in JSON alerts (default: $FALCO_HOSTNAME,\n"
    "                        else this machine's)\n"
    "  -d, --daemon          detach; stdout goes to /dev/null (stdout alerts are discarded)\n"
    "      --pidfile FILE    write the (daemon's) pid to FILE\n"
    "      --metrics-listen ADDR:PORT\n"
    "                        serve the library's counters at http://ADDR:PORT/metrics\n"
    "                        (Prometheus text format; port 0: any free port, printed)\n"
    "  -h, --help            this text\n"
    "      --version         the library's version\n"
    "\n"
    "Signals: SIGUSR1 reopens the file and program outputs (logrotate's postrotate);\n"
    "SIGINT/SIGTERM stop, deliver what was emitted and close. Statistics go to stderr at exit.\n"
    "Exit status: 0; 1-125 the number of malformed lines skipped (capped at 125);\n"
    "126 the demo could not run (command line, configuration, input file) or had to discard\n"
    "alerts at close.\n";

namespace {

bool parse_count(const char *text, uint64_t &v) {
  if (!text || *text < '0' || *text > '9') return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long n = std::strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  v = n;
  return true;
}

bool parse_rate(const char *text, double &v) {
  errno = 0;
  char *end = nullptr;
  v = std::strtod(text, &end);
  return errno == 0 && end != text && *end == '\0' && std::isfinite(v) && v >= 0;
}

bool fail(std::string &error, std::string what) {
  error = std::move(what);
  return false;
}

enum LongOnly { kReplay = 256, kGenerate, kRate, kHostname, kPidfile, kVersion, kMetricsListen };

}  // namespace

bool parse_options(int argc, char **argv, Options &opts, std::string &error) {
  static const struct option longopts[] = {
      {"config", required_argument, nullptr, 'c'},
      {"daemon", no_argument, nullptr, 'd'},
      {"help", no_argument, nullptr, 'h'},
      {"replay", required_argument, nullptr, kReplay},
      {"generate", required_argument, nullptr, kGenerate},
      {"rate", required_argument, nullptr, kRate},
      {"hostname", required_argument, nullptr, kHostname},
      {"pidfile", required_argument, nullptr, kPidfile},
      {"version", no_argument, nullptr, kVersion},
      {"metrics-listen", required_argument, nullptr, kMetricsListen},
      {nullptr, 0, nullptr, 0}};
  bool have_rate = false;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":c:o:dh", longopts, nullptr)) != -1) {
    switch (c) {
      case 'c': opts.outputs.config_path = optarg; break;
      case 'o': opts.outputs.overrides.emplace_back(optarg); break;
      case 'd': opts.daemon = true; break;
      case 'h': opts.help = true; break;
      case kVersion: opts.version = true; break;
      case kReplay:
        if (opts.mode != Mode::Sample) return fail(error, "--replay and --generate exclude each other");
        opts.mode = Mode::Replay;
        opts.replay_path = optarg;
        break;
      case kGenerate:
        if (opts.mode != Mode::Sample) return fail(error, "--replay and --generate exclude each other");
        opts.mode = Mode::Generate;
        if (!parse_count(optarg, opts.generate_count))
          return fail(error, std::string("--generate: not a count: ") + optarg);
        break;
      case kRate:
        if (!parse_rate(optarg, opts.rate))
          return fail(error, std::string("--rate: not a rate per second: ") + optarg);
        have_rate = true;
        break;
      case kHostname: opts.outputs.hostname = optarg; break;
      case kPidfile: opts.pidfile = optarg; break;
      case kMetricsListen: opts.metrics_listen = optarg; break;
      case ':':
        error = std::string("option ") + argv[optind - 1] + " needs a value";
        return false;
      default:
        error = std::string("unknown option ") + argv[optind - 1];
        return false;
    }
  }
  if (optind < argc) return fail(error, std::string("unexpected argument ") + argv[optind]);
  if (have_rate && opts.mode != Mode::Generate) return fail(error, "--rate goes with --generate");
  for (const auto &o : opts.outputs.overrides) {
    if (o.find('=') == std::string::npos)
      return fail(error, "-o " + o + ": expected KEY=VALUE");
  }
  return true;
}

}  // namespace demo
