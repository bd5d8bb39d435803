#include "metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace demo {

namespace {

// A request head larger than this is refused; a client that sends nothing for this long is
// dropped. The server answers one request per connection.
constexpr size_t kMaxRequest = 8192;
constexpr int kClientTimeoutMs = 2000;

bool send_all(int fd, const std::string &data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string response(const char *status, const char *type, const std::string &body) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

}  // namespace

bool MetricsServer::start(const std::string &listen, falco_outputs *outputs,
                          std::string &error) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    error = "--metrics-listen " + listen + ": expected ADDRESS:PORT";
    return false;
  }
  std::string host = listen.substr(0, colon);
  char *end = nullptr;
  unsigned long port = std::strtoul(listen.c_str() + colon + 1, &end, 10);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (colon + 1 == listen.size() || *end != '\0' || port > 65535 ||
      inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    error = "--metrics-listen " + listen + ": expected IPV4ADDRESS:PORT, e.g. 127.0.0.1:9376";
    return false;
  }
  addr.sin_port = htons(static_cast<uint16_t>(port));
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (listen_fd_ < 0 ||
      setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0 || pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    error = "--metrics-listen " + listen + ": " + std::strerror(errno);
    stop();
    return false;
  }
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&addr), &len);
  char ip[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
  std::fprintf(stderr, "falco-outputs-demo: serving metrics on http://%s:%u/metrics\n", ip,
               ntohs(addr.sin_port));
  outputs_ = outputs;
  thread_ = std::thread([this] { run(); });
  return true;
}

void MetricsServer::stop() {
  if (thread_.joinable()) {
    char b = 0;
    ssize_t ignored = write(stop_pipe_[1], &b, 1);
    (void)ignored;
    thread_.join();
  }
  for (int *fd : {&listen_fd_, &stop_pipe_[0], &stop_pipe_[1]}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void MetricsServer::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    answer(conn);
    close(conn);
  }
}

void MetricsServer::answer(int conn) {
  std::string req;
  char buf[1024];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < kMaxRequest) {
    pollfd pfd{conn, POLLIN, 0};
    if (poll(&pfd, 1, kClientTimeoutMs) <= 0) return;
    ssize_t n = recv(conn, buf, sizeof buf, 0);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  size_t eol = req.find("\r\n");
  std::string line = req.substr(0, eol);
  if (line.rfind("GET /metrics ", 0) != 0 && line != "GET /metrics") {
    send_all(conn, response("404 Not Found", "text/plain", "only GET /metrics is served\n"));
    return;
  }
  std::string text(16384, '\0');
  size_t need = falco_outputs_metrics_text(outputs_, text.data(), text.size());
  if (need >= text.size()) {
    text.resize(need + 1);
    need = falco_outputs_metrics_text(outputs_, text.data(), text.size());
  }
  text.resize(need);
  send_all(conn, response("200 OK", "text/plain; version=0.0.4; charset=utf-8", text));
}

}  // namespace demo
