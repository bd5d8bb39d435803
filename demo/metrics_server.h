// --metrics-listen HOST:PORT: the host's own small web server answering GET /metrics with
// falco_outputs_metrics_text (the library opens no port; Falco serves its metrics the same way).
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "falco_outputs.h"

namespace demo {

class MetricsServer {
 public:
  MetricsServer() = default;
  MetricsServer(const MetricsServer &) = delete;
  MetricsServer &operator=(const MetricsServer &) = delete;
  ~MetricsServer() { stop(); }

  // Binds `listen` ("127.0.0.1:9376", port 0 for any) and serves `outputs` from a thread.
  // Prints "serving metrics on http://ADDR:PORT/metrics" to stderr once bound.
  bool start(const std::string &listen, falco_outputs *outputs, std::string &error);
  // Stops serving; returns once the thread is gone (before the handle is closed).
  void stop();

 private:
  void run();
  void answer(int conn);
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  falco_outputs *outputs_ = nullptr;
  std::thread thread_;
};

}  // namespace demo
