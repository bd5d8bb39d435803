/* Shared by emit_bench.c and falco_baseline.cpp for the paced rows (issue 10): the producer's
 * pacing, the delivery-delay probe, the receivers of the 5-channel rows, CPU clocks. Both sides
 * use the same code, so what it costs is the same on both. Header-only (static functions). */
#ifndef BENCH_PACED_H
#define BENCH_PACED_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "seed_alert.h"

static inline uint64_t paced_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t paced_thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Sleeps until alert i's slot: t0 + i / rate (absolute, so the rate does not drift). */
static inline void paced_wait(uint64_t t0, uint64_t i, double rate) {
  uint64_t at = t0 + (uint64_t)((double)i * 1e9 / rate);
  struct timespec ts = {(time_t)(at / 1000000000ULL), (long)(at % 1000000000ULL)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

/* The delivery-delay probe: a thread that follows the output file (inotify) and, for each
 * complete JSON line, finds the alert's number from its "evt.time" and records the time from
 * its emit (emit_ns[i], set by the producer just before the call) to the moment the line was
 * seen in the file. */
typedef struct delay_probe {
  const char *path;
  uint64_t n;
  uint64_t *emit_ns;
  uint32_t *delay_us;
  volatile int stop;
  uint64_t seen;
  pthread_t thread;
} delay_probe;

static void delay_probe_lines(delay_probe *p, char *buf, size_t len, uint64_t now) {
  static const char key[] = "\"evt.time\":";
  char *s = buf, *end = buf + len;
  while (s < end) {
    char *nl = (char *)memchr(s, '\n', (size_t)(end - s));
    if (!nl) break;
    *nl = 0;
    char *k = strstr(s, key);
    if (k) {
      uint64_t t = strtoull(k + sizeof key - 1, NULL, 10);
      uint64_t i = (t - SEED_TIME0_NS) / SEED_STEP_NS;
      if (t >= SEED_TIME0_NS && i < p->n) {
        uint64_t e = __atomic_load_n(&p->emit_ns[i], __ATOMIC_ACQUIRE);
        uint64_t d = e && now > e ? (now - e) / 1000 : 0;
        p->delay_us[i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        p->seen++;
      }
    }
    s = nl + 1;
  }
}

static void *delay_probe_run(void *arg) {
  delay_probe *p = (delay_probe *)arg;
  int in = inotify_init1(IN_CLOEXEC);
  int fd = open(p->path, O_RDONLY | O_CLOEXEC);
  if (in < 0 || fd < 0 || inotify_add_watch(in, p->path, IN_MODIFY) < 0) {
    fprintf(stderr, "delay probe: cannot follow %s: %s\n", p->path, strerror(errno));
    exit(2);
  }
  size_t cap = 1 << 20, have = 0;
  char *buf = (char *)malloc(cap + 1);
  char ev[4096];
  while (!p->stop || have != 0) {
    struct pollfd pfd = {in, POLLIN, 0};
    if (poll(&pfd, 1, 50) > 0 && read(in, ev, sizeof ev) < 0) break;
    for (;;) {
      ssize_t got = read(fd, buf + have, cap - have);
      if (got <= 0) break;
      uint64_t now = paced_now_ns();
      have += (size_t)got;
      buf[have] = 0;
      char *last = (char *)memrchr(buf, '\n', have);
      if (!last) continue;
      size_t whole = (size_t)(last - buf) + 1;
      delay_probe_lines(p, buf, whole, now);
      memmove(buf, buf + whole, have - whole);
      have -= whole;
    }
    if (p->stop) break;
  }
  free(buf);
  close(fd);
  close(in);
  return NULL;
}

static inline void delay_probe_start(delay_probe *p, const char *path, uint64_t n) {
  memset(p, 0, sizeof *p);
  p->path = path;
  p->n = n;
  p->emit_ns = (uint64_t *)calloc(n, sizeof(uint64_t));
  p->delay_us = (uint32_t *)calloc(n, sizeof(uint32_t));
  if (!p->emit_ns || !p->delay_us) {
    fprintf(stderr, "delay probe: out of memory\n");
    exit(2);
  }
  pthread_create(&p->thread, NULL, delay_probe_run, p);
}

static inline void delay_probe_mark(delay_probe *p, uint64_t i, uint64_t t) {
  __atomic_store_n(&p->emit_ns[i], t, __ATOMIC_RELEASE);
}

static int paced_cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Stops the probe (after the last line was written) and prints delay_p50_us/p99/max and how
 * many lines it saw. */
static inline void delay_probe_finish(delay_probe *p, FILE *out) {
  usleep(100000);
  p->stop = 1;
  pthread_join(p->thread, NULL);
  qsort(p->delay_us, p->n, sizeof(uint32_t), paced_cmp_u32);
  fprintf(out, " delay_p50_us=%u delay_p99_us=%u delay_max_us=%u delay_seen=%llu",
          p->delay_us[p->n / 2], p->delay_us[p->n * 99 / 100], p->delay_us[p->n - 1],
          (unsigned long long)p->seen);
  free(p->emit_ns);
  free(p->delay_us);
}

/* The syslog receiver of the 5-channel rows: a unix datagram socket at `path`, drained by a
 * thread (its CPU is the receiver's, counted on neither side). Returns the socket. */
static void *paced_drain(void *arg) {
  int s = (int)(intptr_t)arg;
  char buf[65536];
  while (recv(s, buf, sizeof buf, 0) >= 0) {
  }
  return NULL;
}

static inline int paced_syslog_sink(const char *path) {
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  unlink(path);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
    fprintf(stderr, "paced: cannot bind %s: %s\n", path, strerror(errno));
    exit(2);
  }
  int big = 4 << 20;
  setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  pthread_t t;
  pthread_create(&t, NULL, paced_drain, (void *)(intptr_t)s);
  pthread_detach(t);
  return s;
}

#endif
