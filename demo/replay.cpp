#include "replay.h"

#include <poll.h>
#include <unistd.h>

#include <chrono>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "falco_alert_line.h"
#include "signals.h"

namespace demo {
namespace {

// A line longer than this is reported and skipped instead of growing memory without bound.
constexpr size_t kMaxLine = 64u << 20;
// How long a replay of stdin goes on reading after SIGINT/SIGTERM (a second signal: at once).
constexpr std::chrono::milliseconds kDrainAfterStop{2000};

void malformed(const std::string &name, uint64_t lineno, const std::string &why,
               ReplayStats &stats) {
  stats.malformed++;
  std::fprintf(stderr, "falco-outputs-demo: %s:%llu: %s; line skipped\n", name.c_str(),
               static_cast<unsigned long long>(lineno), why.c_str());
}

void one_line(std::string_view line, const std::string &name, uint64_t lineno,
              OutputsHandle &out, ReplayStats &stats) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;
  stats.lines++;
  ParsedAlert alert;
  std::string error;
  if (!parse_alert_line(line, alert, error)) {
    malformed(name, lineno, error, stats);
    return;
  }
  if (!alert.message_recovered) {
    // Still delivered: a lost alert is worse than one whose text keeps its old prefix.
    std::fprintf(stderr,
                 "falco-outputs-demo: %s:%llu: \"output\" has no \"<time>: <Priority> \" prefix; "
                 "used whole as the message\n",
                 name.c_str(), static_cast<unsigned long long>(lineno));
  }
  out.emit(alert);
  stats.emitted++;
}

}  // namespace

bool replay_fd(int fd, const std::string &name, bool drain_on_stop, OutputsHandle &out,
               ReplayStats &stats, std::string &error) {
  std::string pending;
  uint64_t lineno = 0;
  bool skipping = false;  // inside an over-long line, up to its newline
  bool draining = false;
  auto deadline = std::chrono::steady_clock::now();
  char buf[65536];
  for (;;) {
    if (stop_requested()) {
      // A relay keeps reading what its writer still sends as it shuts down, for a while.
      if (!drain_on_stop || stop_requests() > 1) return true;
      auto now = std::chrono::steady_clock::now();
      if (!draining) {
        draining = true;
        deadline = now + kDrainAfterStop;
      }
      if (now >= deadline) return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      struct pollfd p = {fd, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(left.count()) + 1);
      if (r == 0) return true;
      if (r < 0) continue;  // EINTR: look at the signals again
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "reading " + name + ": " + std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    // Every complete line read is emitted, even after a stop request: nothing read is lost.
    size_t start = 0;
    for (size_t i = 0; i < static_cast<size_t>(n); i++) {
      if (buf[i] != '\n') continue;
      lineno++;
      if (skipping) {
        skipping = false;
      } else if (pending.empty()) {
        one_line(std::string_view(buf + start, i - start), name, lineno, out, stats);
      } else {
        pending.append(buf + start, i - start);
        one_line(pending, name, lineno, out, stats);
      }
      pending.clear();
      start = i + 1;
    }
    if (!skipping) pending.append(buf + start, static_cast<size_t>(n) - start);
    if (pending.size() > kMaxLine) {
      malformed(name, lineno + 1, "longer than 64 MiB", stats);
      pending.clear();
      skipping = true;
    }
  }
  if (!skipping && !pending.empty()) one_line(pending, name, ++lineno, out, stats);
  return true;
}

void replay_text(std::string_view text, const std::string &name, OutputsHandle &out,
                 ReplayStats &stats) {
  uint64_t lineno = 0;
  while (!text.empty() && !stop_requested()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    one_line(line, name, ++lineno, out, stats);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
}

}  // namespace demo
