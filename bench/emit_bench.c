/* The library's side of the benchmark, through the public header only (the real ABI path).
 *
 * Emits the seed alert N times (split across --threads producer threads), then calls
 * falco_outputs_flush, and reports the time from the first emit to flush's return; with
 * --latency it also times every falco_outputs_emit call on the calling thread. One line of
 * key=value pairs on stdout (bench/run parses it):
 *
 *   emit_bench --format json|text [--buffered] [--out PATH | --http-batch B] [--n N]
 *              [--threads T] [--capacity C] [--latency] [--fdatasync]
 *              [--rate R [--five] [--delay] [--max-delay MS]]
 *   emit_bench --format json --syslog ADDRESS [--syslog-tls BLOCK] [--n N] [--rate R]
 *   emit_bench --format json --nats URLS [--nats-window W] [--n N] [--rate R]
 *
 * --out writes with file_output (keep_alive: true) to PATH (a file, or /dev/null);
 * --http-batch sends with http_output (keep_alive: true, batch_max_alerts B) to a loopback
 * server in this process; exits 3 ("http_output not available") when the library has no HTTP
 * channel.
 *
 * --syslog sends with syslog_output alone (RFC 5424) to ADDRESS (e.g. tcp://127.0.0.1:P or
 * tls://127.0.0.1:P), with the flow-style BLOCK as syslog_output.tls (bench/run's syslog TLS
 * row: the price of TLS against the same rsyslogd); flush returns once every alert is
 * confirmed (TCP and TLS: acknowledged and settled).
 *
 * --nats publishes with nats_output alone (jetstream: true, the default subject
 * falco.{priority}.{rule}) to URLS (comma-separated nats:// URLs) with max_in_flight W (default
 * 256); flush returns once every alert's PubAck arrived (bench/run's NATS rows, issue 18).
 * proc_cpu_ns is the whole process's CPU time (getrusage) per alert from the first emit to
 * flush's return, every thread included (the NATS rows compare it with other programs').
 *
 * --fdatasync: the time includes an fdatasync(2) of the output file after flush (on disk).
 * --rate R paces the (single) producer at R alerts/s (issue 10's paced rows); --five adds the
 * stdout (fd 1 on /dev/null), syslog (a unix datagram socket drained here), program
 * (`cat >/dev/null`, keep_alive) and HTTP (the loopback sink, one request per alert) channels
 * to the file; --delay follows the file and reports the delivery delay (emit to line in the
 * file); --max-delay sets outputs_queue.max_delay_ms. Reported then: emit_p50/p99_ns,
 * engine_cpu_ns (the emit calls' time per alert) and lib_cpu_ns (the library's threads' CPU
 * per alert). --rss-after S: reports VmRSS before the alerts, once flush returned, and S seconds
 * later. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "falco_outputs.h"
#include "http_sink.h"
#include "paced.h"
#include "seed_falco_alert.h"


static void die(const char *what) {
  fprintf(stderr, "emit_bench: %s\n", what);
  exit(2);
}

/* CPU time (ns) the library's threads ("falco-out-*": fan-out, workers, watchdog) have run so far, from
 * /proc/self/task/<tid>/schedstat: what the worker costs per alert, less sensitive to other
 * load on the machine than wall-clock time. */
static uint64_t workers_cpu_ns(void) {
  uint64_t total = 0;
  DIR *d = opendir("/proc/self/task");
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[64], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%.20s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
    fclose(f);
    if (strncmp(comm, "falco-out-", 10) != 0) continue;
    snprintf(path, sizeof path, "/proc/self/task/%.20s/schedstat", e->d_name);
    f = fopen(path, "r");
    unsigned long long ns = 0;
    if (f && fscanf(f, "%llu", &ns) == 1) total += ns;
    if (f) fclose(f);
  }
  closedir(d);
  return total;
}

/* The process's resident set now (VmRSS), in KiB. */
static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb;
}

/* The whole process's CPU time (user + system, every thread) so far. */
static uint64_t proc_cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ULL +
         ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ULL;
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct producer {
  falco_outputs *out;
  uint64_t first, count; /* alert numbers [first, first+count) */
  uint32_t *lat;         /* per-call ns, or NULL */
  uint64_t not_ok;
  uint64_t cpu_ns; /* this producer's CPU time for its emits */
  pthread_barrier_t *start;
  double rate;          /* alerts/s, 0 = as fast as possible */
  delay_probe *probe;   /* or NULL */
};

static void *produce(void *arg) {
  struct producer *p = arg;
  falco_alert a = seed_falco_alert();
  pthread_barrier_wait(p->start);
  uint64_t cpu0 = thread_cpu_ns();
  uint64_t start = paced_now_ns();
  for (uint64_t i = 0; i < p->count; i++) {
    a.time_ns = SEED_TIME0_NS + (p->first + i) * SEED_STEP_NS;
    falco_outputs_result rc;
    if (p->rate > 0) paced_wait(start, i, p->rate);
    if (p->lat) {
      uint64_t t0 = paced_now_ns();
      if (p->probe) delay_probe_mark(p->probe, p->first + i, t0);
      rc = falco_outputs_emit(p->out, &a);
      uint64_t d = paced_now_ns() - t0;
      p->lat[i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    } else {
      rc = falco_outputs_emit(p->out, &a);
    }
    if (rc != FALCO_OUTPUTS_OK) p->not_ok++;
  }
  p->cpu_ns = thread_cpu_ns() - cpu0;
  return NULL;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void log_fn(void *ud, int32_t level, const char *msg) {
  (void)ud;
  fprintf(stderr, "emit_bench: library log (%d): %s\n", level, msg);
}

int main(int argc, char **argv) {
  const char *format = "json", *out_path = NULL, *syslog_addr = NULL, *syslog_tls = NULL;
  const char *nats = NULL;
  int nats_window = 256;
  int buffered = 0, threads = 1, latency = 0, http_batch = 0, five = 0, delay = 0, sync = 0;
  int max_delay = -1, rss_after = -1;
  double rate = 0;
  uint64_t n = 100000, capacity = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--format") && v) format = argv[++i];
    else if (!strcmp(a, "--buffered")) buffered = 1;
    else if (!strcmp(a, "--out") && v) out_path = argv[++i];
    else if (!strcmp(a, "--http-batch") && v) http_batch = atoi(argv[++i]);
    else if (!strcmp(a, "--n") && v) n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
    else if (!strcmp(a, "--capacity") && v) capacity = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--latency")) latency = 1;
    else if (!strcmp(a, "--rate") && v) rate = atof(argv[++i]);
    else if (!strcmp(a, "--five")) five = 1;
    else if (!strcmp(a, "--delay")) delay = 1;
    else if (!strcmp(a, "--fdatasync")) sync = 1;
    else if (!strcmp(a, "--max-delay") && v) max_delay = atoi(argv[++i]);
    else if (!strcmp(a, "--rss-after") && v) rss_after = atoi(argv[++i]);
    else if (!strcmp(a, "--syslog") && v) syslog_addr = argv[++i];
    else if (!strcmp(a, "--syslog-tls") && v) syslog_tls = argv[++i];
    else if (!strcmp(a, "--nats") && v) nats = argv[++i];
    else if (!strcmp(a, "--nats-window") && v) nats_window = atoi(argv[++i]);
    else {
      fprintf(stderr, "emit_bench: unknown argument %s\n", a);
      return 2;
    }
  }
  if (strcmp(format, "json") && strcmp(format, "text")) die("--format is json or text");
  if ((out_path != NULL) + (http_batch != 0) + (syslog_addr != NULL) + (nats != NULL) != 1)
    die("give one of --out PATH, --http-batch B, --syslog ADDRESS or --nats URLS");
  if (threads < 1 || n < (uint64_t)threads) die("need 1 <= threads <= n");
  if ((five || delay) && (!out_path || rate <= 0)) die("--five and --delay need --out and --rate");
  if (rate > 0 && threads != 1) die("--rate needs one producer thread");
  if (rate > 0) latency = 1;
  /* The key=value line goes to the original stdout; fd 1 itself becomes /dev/null for the
   * stdout channel of --five. */
  FILE *report = stdout;
  if (five) {
    int keep = dup(1);
    int null = open("/dev/null", O_WRONLY);
    if (keep < 0 || null < 0 || dup2(null, 1) < 0) die("cannot put /dev/null on fd 1");
    close(null);
    report = fdopen(keep, "w");
  }
  char extra[1024] = "", sock_path[256] = "";
  if (max_delay >= 0)
    snprintf(extra, sizeof extra, "outputs_queue: {capacity: %" PRIu64 ", max_delay_ms: %d}\n",
             capacity, max_delay);
  else
    snprintf(extra, sizeof extra, "outputs_queue: {capacity: %" PRIu64 "}\n", capacity);
  if (five) {
    snprintf(sock_path, sizeof sock_path, "%s.syslog.sock", out_path);
    paced_syslog_sink(sock_path);
    int hport = http_sink_start();
    if (!hport) die("cannot start the loopback HTTP server");
    size_t k = strlen(extra);
    snprintf(extra + k, sizeof extra - k,
             "stdout_output: {enabled: true}\n"
             "syslog_output: {enabled: true, address: \"unix://%s\"}\n"
             "program_output: {enabled: true, keep_alive: true, program: \"cat >/dev/null\"}\n"
             "http_output: {enabled: true, keep_alive: true, url: \"http://127.0.0.1:%d/\"}\n",
             sock_path, hport);
  }

  char yaml[2048];
  int port = 0;
  if (nats) {
    snprintf(yaml, sizeof yaml,
             "json_output: %s\nbuffered_outputs: %s\n%s"
             "nats_output: {enabled: true, servers: \"%s\", max_in_flight: %d}\n",
             strcmp(format, "json") ? "false" : "true", buffered ? "true" : "false", extra,
             nats, nats_window);
  } else if (syslog_addr) {
    snprintf(yaml, sizeof yaml,
             "json_output: %s\nbuffered_outputs: %s\n%s"
             "syslog_output: {enabled: true, address: \"%s\", format: rfc5424%s%s}\n",
             strcmp(format, "json") ? "false" : "true", buffered ? "true" : "false", extra,
             syslog_addr, syslog_tls ? ", tls: " : "", syslog_tls ? syslog_tls : "");
  } else if (out_path) {
    snprintf(yaml, sizeof yaml,
             "json_output: %s\nbuffered_outputs: %s\n%s"
             "file_output: {enabled: true, keep_alive: true, filename: \"%s\"}\n",
             strcmp(format, "json") ? "false" : "true", buffered ? "true" : "false", extra,
             out_path);
  } else {
    port = http_sink_start();
    if (!port) die("cannot start the loopback HTTP server");
    snprintf(yaml, sizeof yaml,
             "json_output: %s\nbuffered_outputs: %s\noutputs_queue: {capacity: %" PRIu64 "}\n"
             "http_output: {enabled: true, keep_alive: true, url: \"http://127.0.0.1:%d/\", "
             "batch_max_alerts: %d}\n",
             strcmp(format, "json") ? "false" : "true", buffered ? "true" : "false", capacity,
             port, http_batch);
  }
  falco_outputs_options opts = {.config_yaml = yaml, .hostname = SEED_HOSTNAME, .log_fn = log_fn};
  falco_outputs *out = NULL;
  char err[512] = "";
  falco_outputs_result rc = falco_outputs_init(&opts, &out, err, sizeof err);
  if (rc != FALCO_OUTPUTS_OK) {
    fprintf(stderr, "emit_bench: init: %s: %s\n", falco_outputs_result_str(rc), err);
    return http_batch ? 3 : 2;
  }
  if (http_batch) {
    /* A library without the HTTP channel accepts the keys but opens no channel. */
    char js[4096];
    falco_outputs_stats_json(out, js, sizeof js);
    if (!strstr(js, "\"http\"")) {
      fprintf(stderr, "emit_bench: http_output not available in this build of the library\n");
      falco_outputs_close(out, 1000);
      return 3;
    }
  }

  delay_probe probe;
  if (delay) delay_probe_start(&probe, out_path, n);
  long rss_before = rss_kb();
  struct producer *ps = calloc((size_t)threads, sizeof *ps);
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
  for (int t = 0; t < threads; t++) {
    ps[t].out = out;
    ps[t].first = n * (uint64_t)t / (uint64_t)threads;
    ps[t].count = n * (uint64_t)(t + 1) / (uint64_t)threads - ps[t].first;
    ps[t].start = &start;
    ps[t].rate = rate;
    ps[t].probe = delay ? &probe : NULL;
    if (latency) {
      ps[t].lat = calloc(ps[t].count, sizeof(uint32_t));
      if (!ps[t].lat) die("out of memory");
      /* Touch the array now so its page faults are not timed. */
      memset(ps[t].lat, 1, ps[t].count * sizeof(uint32_t));
    }
    if (pthread_create(&tids[t], NULL, produce, &ps[t]) != 0) die("pthread_create");
  }
  uint64_t wcpu0 = workers_cpu_ns();
  uint64_t pcpu0 = proc_cpu_ns();
  uint64_t t0 = paced_now_ns();
  pthread_barrier_wait(&start);
  uint64_t not_ok = 0, prod_cpu = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tids[t], NULL);
    not_ok += ps[t].not_ok;
    prod_cpu += ps[t].cpu_ns;
  }
  uint64_t t_emitted = paced_now_ns();
  rc = falco_outputs_flush(out, 600000);
  if (sync && out_path) {
    int fd = open(out_path, O_WRONLY);
    if (fd < 0 || fdatasync(fd) != 0) die("fdatasync");
    close(fd);
  }
  uint64_t t1 = paced_now_ns();
  uint64_t wcpu = workers_cpu_ns() - wcpu0;
  uint64_t pcpu = proc_cpu_ns() - pcpu0;
  if (rc != FALCO_OUTPUTS_OK) {
    fprintf(stderr, "emit_bench: flush: %s\n", falco_outputs_result_str(rc));
    return 1;
  }
  falco_outputs_stats st;
  falco_outputs_get_stats(out, &st);

  double secs = (double)(t1 - t0) / 1e9;
  FILE *o = report;
  fprintf(o, "alerts=%" PRIu64 " secs=%.6f rate=%.0f emit_secs=%.6f delivered=%" PRIu64
         " dropped=%" PRIu64 " failed=%" PRIu64 " not_ok=%" PRIu64,
         n, secs, (double)n / secs, (double)(t_emitted - t0) / 1e9, st.delivered, st.dropped,
         st.failed, not_ok);
  fprintf(o, " producer_cpu_ns=%.0f worker_cpu_ns=%.0f lib_cpu_ns=%.0f", (double)prod_cpu / (double)n,
         (double)wcpu / (double)n, (double)wcpu / (double)n);
  fprintf(o, " proc_cpu_ns=%.0f", (double)pcpu / (double)n);
  if (http_batch) fprintf(o, " server_alerts=%" PRIu64, http_sink_alerts());
  if (latency) {
    uint32_t *all = malloc(n * sizeof(uint32_t));
    uint64_t k = 0;
    for (int t = 0; t < threads; t++) {
      memcpy(all + k, ps[t].lat, ps[t].count * sizeof(uint32_t));
      k += ps[t].count;
    }
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) sum += all[i];
    qsort(all, n, sizeof(uint32_t), cmp_u32);
    fprintf(o, " emit_p50_ns=%u emit_p99_ns=%u emit_p999_ns=%u emit_max_ns=%u engine_cpu_ns=%.0f",
            all[n / 2], all[n * 99 / 100], all[n * 999 / 1000], all[n - 1],
            (double)sum / (double)n);
    free(all);
  }
  if (delay) delay_probe_finish(&probe, o);
  if (rss_after >= 0) {
    /* Memory that comes back: RSS before the burst, right after it drained, and rss_after
     * seconds later (the handle still open and idle). */
    long drained = rss_kb();
    sleep((unsigned)rss_after);
    fprintf(o, " rss_before_kb=%ld rss_drained_kb=%ld rss_later_kb=%ld", rss_before, drained,
            rss_kb());
  }
  rc = falco_outputs_close(out, 60000);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  fprintf(o, " maxrss_kb=%ld\n", ru.ru_maxrss);
  fflush(o);
  if (sock_path[0]) unlink(sock_path);
  if (rc != FALCO_OUTPUTS_OK) {
    fprintf(stderr, "emit_bench: close: %s\n", falco_outputs_result_str(rc));
    return 1;
  }
  return 0;
}
