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
#include <curl/curl.h>
#include <pthread.h>
#include <time.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <tbb/concurrent_queue.h>

#include "http_sink.h"
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
  bool json = true, buffered = false, http = false;
  std::string out;
  uint64_t n = 100000;
  int threads = 1;
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
    else {
      fprintf(stderr, "falco_baseline: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (o.out.empty() == !o.http || o.threads < 1) {
    fprintf(stderr, "falco_baseline: give one of --out PATH or --http\n");
    return 2;
  }

  tbb::concurrent_bounded_queue<ctrl_msg> q;  // outputs_queue.capacity 0: unbounded
  uint64_t failed = 0;
  std::thread w;
  file_output *fo = nullptr;
  http_output *ho = nullptr;
  if (o.http) {
    int port = http_sink_start();
    if (!port) {
      fprintf(stderr, "falco_baseline: cannot start the loopback HTTP server\n");
      return 2;
    }
    ho = new http_output(o, port);
    w = std::thread([&] { worker(q, *ho); });
  } else {
    fo = new file_output(o);
    w = std::thread([&] { worker(q, *fo); });
  }

  pthread_barrier_t start;
  pthread_barrier_init(&start, nullptr, unsigned(o.threads) + 1);
  std::vector<std::thread> producers;
  for (int t = 0; t < o.threads; t++) {
    uint64_t first = o.n * uint64_t(t) / uint64_t(o.threads);
    uint64_t last = o.n * uint64_t(t + 1) / uint64_t(o.threads);
    producers.emplace_back([&, first, last] {
      pthread_barrier_wait(&start);
      for (uint64_t i = first; i < last; i++) {
        ctrl_msg cmsg = make_msg(o, SEED_TIME0_NS + i * SEED_STEP_NS);
        q.try_push(cmsg);  // falco_outputs::push copies the message in
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
  uint64_t t1 = now_ns();
  if (ho) failed = ho->failed;
  double secs = double(t1 - t0) / 1e9;
  printf("alerts=%" PRIu64 " secs=%.6f rate=%.0f emit_secs=%.6f failed=%" PRIu64, o.n, secs,
         double(o.n) / secs, double(t_emitted - t0) / 1e9, failed);
  if (o.http) printf(" server_alerts=%" PRIu64, http_sink_alerts());
  printf("\n");
  delete fo;
  return failed ? 1 : 0;
}
