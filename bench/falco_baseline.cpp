// The peer baseline: Falco's own output path, reproduced (falco_outputs.cpp, falco_formats.cpp,
// outputs_file.cpp, outputs_http.cpp), fed the same seed alert as emit_bench.
//
// Producer thread(s): format the alert with nlohmann::json exactly as falco_formats does (the
// text line; in JSON mode an object with output, output_fields, priority, rule, source, tags,
// time, hostname, dumped), build Falco's ctrl_msg (line, rule, source, tags set, fields json)
// and try_push it into a tbb::concurrent_bounded_queue. One worker pops each message and hands
// it to the output: the file output writes it through a std::ofstream (unbuffered with
// pubsetbuf(0, 0) and flushed per alert when buffered_outputs is false, as Falco), or the
// HTTP output POSTs it with libcurl on one reused handle. Timed from the first push to the
// worker's exit after a final flush message.
//
//   falco_baseline --format json|text [--buffered] [--out PATH | --http] [--n N] [--threads T]
//                  [--fdatasync] [--rate R [--five] [--delay]]
//
// --fdatasync: the time includes an fdatasync(2) of the output file (on disk). --rate paces the
// (single) producer as emit_bench does, and reports emit_p50/p99_ns (make_msg + push: what
// Falco's engine thread pays per alert), engine_cpu_ns and lib_cpu_ns (the output worker
// thread's CPU per alert). --five: Falco's single queue and worker feeding five outputs in
// turn, as falco_outputs.cpp does: stdout (fd 1 on /dev/null), the file, syslog (glibc
// syslog(3)'s work: a header with localtime_r, one send on a connected unix datagram socket,
// drained here), program (popen("cat >/dev/null") kept alive, fflush per alert as Falco's
// unbuffered mode) and HTTP (one POST per alert to the loopback sink). --delay as emit_bench.
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <tbb/concurrent_queue.h>

#include "http_sink.h"
#include "paced.h"
#include "seed_alert.h"

namespace {

struct seed_field {
  const char *name, *value;
  bool number;
};
#define FIELD(n, v, num) {n, v, num},
#define TAG(t) t,
const seed_field seed_fields[] = {SEED_FIELDS(FIELD)};
const char *const seed_tags[] = {SEED_TAGS(TAG)};

enum class ctrl_msg_type { output, flush_and_stop };

// falco_outputs::ctrl_msg: what Falco queues per alert.
struct ctrl_msg {
  ctrl_msg_type type = ctrl_msg_type::output;
  uint64_t ts = 0;
  int priority = 0;
  std::string source, rule, msg;
  std::set<std::string> tags;
  nlohmann::json fields;
};

struct options {
  bool json = true, buffered = false, http = false, five = false, delay = false, sync = false;
  std::string out;
  uint64_t n = 100000;
  int threads = 1;
  double rate = 0;
};

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

// %evt.time: local HH:MM:SS.nnnnnnnnn, rendered per event as libsinsp does.
std::string evt_time(uint64_t ts) {
  time_t secs = time_t(ts / 1000000000ULL);
  tm t;
  localtime_r(&secs, &t);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%H:%M:%S", &t);
  snprintf(buf + n, sizeof buf - n, ".%09" PRIu64, uint64_t(ts % 1000000000ULL));
  return buf;
}

// The JSON "time": UTC ISO 8601 with nanoseconds.
std::string iso8601_utc(uint64_t ts) {
  time_t secs = time_t(ts / 1000000000ULL);
  tm t;
  gmtime_r(&secs, &t);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  snprintf(buf + n, sizeof buf - n, ".%09" PRIu64 "Z", uint64_t(ts % 1000000000ULL));
  return buf;
}

// falco_outputs::handle_event + falco_formats::format_event, for the seed alert at time ts.
ctrl_msg make_msg(const options &o, uint64_t ts) {
  ctrl_msg cmsg;
  cmsg.ts = ts;
  cmsg.priority = 3;
  cmsg.source = SEED_SOURCE;
  cmsg.rule = SEED_RULE;
  std::set<std::string> tags(std::begin(seed_tags), std::end(seed_tags));
  nlohmann::json fields;
  fields["evt.time"] = ts;
  for (const auto &f : seed_fields) {
    if (f.number)
      fields[f.name] = std::strtoll(f.value, nullptr, 10);
    else
      fields[f.name] = f.value;
  }
  std::string line = evt_time(ts) + ": " + SEED_PRIORITY_NAME + " " + SEED_MESSAGE;
  if (o.json) {
    nlohmann::json event;
    event["time"] = iso8601_utc(ts);
    event["rule"] = cmsg.rule;
    event["priority"] = SEED_PRIORITY_NAME;
    event["source"] = cmsg.source;
    event["hostname"] = SEED_HOSTNAME;
    event["output"] = line;
    event["output_fields"] = fields;
    event["tags"] = tags;
    cmsg.msg = event.dump();
  } else {
    cmsg.msg = std::move(line);
  }
  cmsg.fields = std::move(fields);
  cmsg.tags = std::move(tags);
  return cmsg;
}

// outputs_file.cpp
struct file_output {
  std::ofstream out;
  file_output(const options &o) {
    if (!o.buffered) out.rdbuf()->pubsetbuf(nullptr, 0);
    out.open(o.out, std::fstream::app);
    if (!out.is_open()) {
      fprintf(stderr, "falco_baseline: cannot open %s\n", o.out.c_str());
      exit(2);
    }
    buffered = o.buffered;
  }
  bool buffered;
  void output(const ctrl_msg &m) {
    out << m.msg + "\n";
    if (!buffered) out << std::flush;
  }
  void flush() { out.flush(); }
};

size_t discard(char *, size_t size, size_t nmemb, void *) { return size * nmemb; }

// outputs_http.cpp, keep_alive: one easy handle reused for every POST.
struct http_output {
  CURL *curl;
  curl_slist *headers = nullptr;
  http_output(const options &o, int port) {
    curl_global_init(CURL_GLOBAL_ALL);
    curl = curl_easy_init();
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
    headers = curl_slist_append(
        headers, o.json ? "Content-Type: application/json" : "Content-Type: text/plain");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "falcosecurity/falco");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, -1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  }
  uint64_t failed = 0;
  void output(const ctrl_msg &m) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, m.msg.c_str());
    if (curl_easy_perform(curl) != CURLE_OK) failed++;
  }
  void flush() {}
};

// outputs_stdout.cpp
struct stdout_output {
  bool buffered;
  explicit stdout_output(const options &o) : buffered(o.buffered) {}
  void output(const ctrl_msg &m) {
    std::cout << m.msg + "\n";
    if (!buffered) std::cout.flush();
  }
  void flush() { std::cout.flush(); }
};

// outputs_syslog.cpp calls ::syslog(priority, "%s", msg): glibc formats "<pri>Mmm dd hh:mm:ss
// ident: msg" (localtime_r) and sends it on its connected /dev/log datagram socket. The same
// work, to the bench's socket.
struct syslog_output {
  int fd;
  explicit syslog_output(const std::string &path) {
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (fd < 0 || connect(fd, (sockaddr *)&a, sizeof a) != 0) {
      fprintf(stderr, "falco_baseline: cannot connect to %s\n", path.c_str());
      exit(2);
    }
  }
  void output(const ctrl_msg &m) {
    char head[64];
    time_t now = time(nullptr);
    tm t;
    localtime_r(&now, &t);
    size_t k = snprintf(head, sizeof head, "<%d>", (1 << 3) | m.priority);
    k += strftime(head + k, sizeof head - k, "%h %e %T ", &t);
    std::string line = std::string(head, k) + "falco: " + m.msg;
    send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  }
  void flush() {}
};

// outputs_program.cpp with keep_alive: one popen, fwrite + fflush per alert (unbuffered).
struct program_output {
  FILE *f;
  bool buffered;
  explicit program_output(const options &o) : buffered(o.buffered) {
    f = popen("cat >/dev/null", "w");
    if (!f) {
      fprintf(stderr, "falco_baseline: popen failed\n");
      exit(2);
    }
  }
  void output(const ctrl_msg &m) {
    fprintf(f, "%s\n", m.msg.c_str());
    if (!buffered) fflush(f);
  }
  void flush() { fflush(f); }
  ~program_output() { pclose(f); }
};

template <typename Output>
void worker(tbb::concurrent_bounded_queue<ctrl_msg> &q, Output &out) {
  ctrl_msg cmsg;
  for (;;) {
    q.pop(cmsg);  // blocks until a message is there
    if (cmsg.type == ctrl_msg_type::flush_and_stop) {
      out.flush();
      return;
    }
    out.output(cmsg);
  }
}

}  // namespace

int main(int argc, char **argv) {
  options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    bool has_v = i + 1 < argc;
    if (a == "--format" && has_v) o.json = std::string(argv[++i]) == "json";
    else if (a == "--buffered") o.buffered = true;
    else if (a == "--out" && has_v) o.out = argv[++i];
    else if (a == "--http") o.http = true;
    else if (a == "--n" && has_v) o.n = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--threads" && has_v) o.threads = std::atoi(argv[++i]);
    else if (a == "--rate" && has_v) o.rate = std::atof(argv[++i]);
    else if (a == "--five") o.five = true;
    else if (a == "--delay") o.delay = true;
    else if (a == "--fdatasync") o.sync = true;
    else {
      fprintf(stderr, "falco_baseline: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (o.out.empty() == !o.http || o.threads < 1) {
    fprintf(stderr, "falco_baseline: give one of --out PATH or --http\n");
    return 2;
  }

  if ((o.five || o.delay) && (o.out.empty() || o.rate <= 0)) {
    fprintf(stderr, "falco_baseline: --five and --delay need --out and --rate\n");
    return 2;
  }
  if (o.rate > 0 && o.threads != 1) {
    fprintf(stderr, "falco_baseline: --rate needs one producer thread\n");
    return 2;
  }
  FILE *report = stdout;
  if (o.five) {
    int keep = dup(1);
    int null = open("/dev/null", O_WRONLY);
    if (keep < 0 || null < 0 || dup2(null, 1) < 0) return 2;
    close(null);
    report = fdopen(keep, "w");
  }

  tbb::concurrent_bounded_queue<ctrl_msg> q;  // outputs_queue.capacity 0: unbounded
  uint64_t failed = 0;
  std::thread w;
  file_output *fo = nullptr;
  http_output *ho = nullptr;
  stdout_output *so = nullptr;
  syslog_output *yo = nullptr;
  program_output *po = nullptr;
  uint64_t worker_cpu = 0;
  std::string sock_path = o.out + ".syslog.sock";
  if (o.five) {
    paced_syslog_sink(sock_path.c_str());
    int port = http_sink_start();
    if (!port) return 2;
    fo = new file_output(o);
    ho = new http_output(o, port);
    so = new stdout_output(o);
    yo = new syslog_output(sock_path);
    po = new program_output(o);
    // falco_outputs::worker: one thread, each message to every output in turn.
    w = std::thread([&] {
      ctrl_msg cmsg;
      for (;;) {
        q.pop(cmsg);
        if (cmsg.type == ctrl_msg_type::flush_and_stop) {
          so->flush();
          fo->flush();
          yo->flush();
          po->flush();
          ho->flush();
          break;
        }
        so->output(cmsg);
        fo->output(cmsg);
        yo->output(cmsg);
        po->output(cmsg);
        ho->output(cmsg);
      }
      worker_cpu = paced_thread_cpu_ns();
    });
  } else if (o.http) {
    int port = http_sink_start();
    if (!port) {
      fprintf(stderr, "falco_baseline: cannot start the loopback HTTP server\n");
      return 2;
    }
    ho = new http_output(o, port);
    w = std::thread([&] {
      worker(q, *ho);
      worker_cpu = paced_thread_cpu_ns();
    });
  } else {
    fo = new file_output(o);
    w = std::thread([&] {
      worker(q, *fo);
      worker_cpu = paced_thread_cpu_ns();
    });
  }

  delay_probe probe;
  if (o.delay) delay_probe_start(&probe, o.out.c_str(), o.n);
  std::vector<uint32_t> lat(o.rate > 0 ? o.n : 0);
  pthread_barrier_t start;
  pthread_barrier_init(&start, nullptr, unsigned(o.threads) + 1);
  std::vector<std::thread> producers;
  for (int t = 0; t < o.threads; t++) {
    uint64_t first = o.n * uint64_t(t) / uint64_t(o.threads);
    uint64_t last = o.n * uint64_t(t + 1) / uint64_t(o.threads);
    producers.emplace_back([&, first, last] {
      pthread_barrier_wait(&start);
      uint64_t begin = now_ns();
      for (uint64_t i = first; i < last; i++) {
        if (o.rate > 0) {
          paced_wait(begin, i, o.rate);
          uint64_t t0 = now_ns();
          if (o.delay) delay_probe_mark(&probe, i, t0);
          ctrl_msg cmsg = make_msg(o, SEED_TIME0_NS + i * SEED_STEP_NS);
          q.try_push(cmsg);
          uint64_t d = now_ns() - t0;
          lat[i] = d > UINT32_MAX ? UINT32_MAX : uint32_t(d);
        } else {
          ctrl_msg cmsg = make_msg(o, SEED_TIME0_NS + i * SEED_STEP_NS);
          q.try_push(cmsg);  // falco_outputs::push copies the message in
        }
      }
    });
  }
  uint64_t t0 = now_ns();
  pthread_barrier_wait(&start);
  for (auto &p : producers) p.join();
  uint64_t t_emitted = now_ns();
  ctrl_msg stop;
  stop.type = ctrl_msg_type::flush_and_stop;
  q.push(stop);
  w.join();
  if (o.sync) {
    int fd = open(o.out.c_str(), O_WRONLY);
    if (fd < 0 || fdatasync(fd) != 0) return 2;
    close(fd);
  }
  uint64_t t1 = now_ns();
  if (ho) failed = ho->failed;
  double secs = double(t1 - t0) / 1e9;
  FILE *out = report;
  fprintf(out, "alerts=%" PRIu64 " secs=%.6f rate=%.0f emit_secs=%.6f failed=%" PRIu64, o.n, secs,
          double(o.n) / secs, double(t_emitted - t0) / 1e9, failed);
  if (o.http || o.five) fprintf(out, " server_alerts=%" PRIu64, http_sink_alerts());
  fprintf(out, " lib_cpu_ns=%.0f", double(worker_cpu) / double(o.n));
  if (!lat.empty()) {
    uint64_t sum = 0;
    for (uint32_t x : lat) sum += x;
    std::sort(lat.begin(), lat.end());
    fprintf(out, " emit_p50_ns=%u emit_p99_ns=%u engine_cpu_ns=%.0f", lat[o.n / 2],
            lat[o.n * 99 / 100], double(sum) / double(o.n));
  }
  if (o.delay) delay_probe_finish(&probe, out);
  fprintf(out, "\n");
  fflush(out);
  delete fo;
  delete so;
  delete yo;
  delete po;
  if (o.five) unlink(sock_path.c_str());
  return failed ? 1 : 0;
}
