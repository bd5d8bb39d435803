#include "signals.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace demo {
namespace {

std::atomic<falco_outputs *> g_target{nullptr};
std::atomic<uint64_t> g_reopens{0};
volatile sig_atomic_t g_stop = 0;
std::atomic<int> g_stop_count{0};

// Both are touched from a signal handler: they must be lock-free.
static_assert(std::atomic<falco_outputs *>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_usr1(int) {
  int saved = errno;
  g_reopens.fetch_add(1, std::memory_order_relaxed);
  falco_outputs_reopen(g_target.load(std::memory_order_acquire));  // NULL is a no-op
  errno = saved;
}

extern "C" void on_stop(int sig) {
  g_stop = sig;
  g_stop_count.fetch_add(1, std::memory_order_relaxed);
}

bool install(int sig, void (*handler)(int), int flags, std::string &error) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = flags;
  if (sigaction(sig, &sa, nullptr) != 0) {
    error = std::string("sigaction(") + strsignal(sig) + "): " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

bool install_signal_handlers(std::string &error) {
  return install(SIGUSR1, on_usr1, SA_RESTART, error) && install(SIGINT, on_stop, 0, error) &&
         install(SIGTERM, on_stop, 0, error);
}

void set_reopen_target(falco_outputs *outputs) {
  g_target.store(outputs, std::memory_order_release);
}

bool stop_requested() { return g_stop != 0; }
int stop_signal() { return g_stop; }
int stop_requests() { return g_stop_count.load(std::memory_order_relaxed); }
uint64_t reopen_signals_seen() { return g_reopens.load(std::memory_order_relaxed); }

bool write_pidfile(const std::string &pidfile, std::string &error) {
  if (pidfile.empty()) return true;
  FILE *f = std::fopen(pidfile.c_str(), "w");
  if (!f || std::fprintf(f, "%ld\n", static_cast<long>(getpid())) < 0 || std::fclose(f) != 0) {
    error = "cannot write the pid file " + pidfile + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool daemonize(const std::string &pidfile, std::string &error) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid > 0) _exit(0);
  if (setsid() < 0) {
    error = std::string("setsid: ") + std::strerror(errno);
    return false;
  }
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0 || dup2(devnull, STDOUT_FILENO) < 0) {
    error = std::string("/dev/null: ") + std::strerror(errno);
    return false;
  }
  close(devnull);
  return write_pidfile(pidfile, error);
}

}  // namespace demo
