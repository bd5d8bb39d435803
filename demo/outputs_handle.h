// The library handle as the demo uses it: init from the command line's configuration,
// emit parsed or generated alerts, and the shutdown sequence (flush, stats, close).
#pragma once

#include <string>
#include <vector>

#include "falco_alert_line.h"
#include "falco_outputs.h"

namespace demo {

struct OutputsConfig {
  std::string config_path;  // empty: the built-in configuration
  std::vector<std::string> overrides;
  std::string hostname;  // empty: the library's default ($FALCO_HOSTNAME, else gethostname())
};

// stdout only, Falco's text format: what the first README command shows.
extern const char *const kBuiltinConfig;

class OutputsHandle {
 public:
  OutputsHandle() = default;
  OutputsHandle(const OutputsHandle &) = delete;
  OutputsHandle &operator=(const OutputsHandle &) = delete;
  ~OutputsHandle();

  bool open(const OutputsConfig &config, std::string &error);
  falco_outputs *get() const { return h_; }

  // Emits one alert; a refused alert (queue full, closed) is reported on stderr.
  void emit(const ParsedAlert &alert);
  void emit(uint64_t time_ns, int32_t priority, const char *rule, const char *source,
            const char *message, const std::vector<falco_field> &fields,
            const std::vector<const char *> &tags);

  // Flushes, prints `summary` and the statistics to stderr (after the alerts, so a terminal
  // shows them last), closes. False if alerts had to be discarded.
  bool shutdown(const std::string &summary);

 private:
  void report(falco_outputs_result rc);
  falco_outputs *h_ = nullptr;
  uint64_t refused_ = 0;
};

}  // namespace demo
