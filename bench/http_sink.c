/* See http_sink.h. Loopback only; bounded header size; a malformed request closes the
 * connection. */
#define _GNU_SOURCE
#include "http_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_uint_fast64_t sink_alerts;
static atomic_uint_fast64_t sink_requests;
static int sink_fd = -1;

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Value of header `name` in the header block [h, h+len), or NULL. */
static const char *header(const char *h, size_t len, const char *name) {
  size_t nl = strlen(name);
  const char *end = h + len;
  for (const char *p = h; p < end;) {
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (!eol) break;
    if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      while (*v == ' ') v++;
      return v;
    }
    p = eol + 2;
  }
  return NULL;
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  size_t cap = 1 << 20, have = 0;
  char *buf = malloc(cap);
  static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
  while (buf) {
    /* Headers. */
    char *hend;
    while (!(hend = memmem(buf, have, "\r\n\r\n", 4))) {
      if (have == cap) goto out; /* headers larger than the buffer */
      ssize_t r = read(fd, buf + have, cap - have);
      if (r <= 0) goto out;
      have += (size_t)r;
    }
    size_t hlen = (size_t)(hend - buf) + 4;
    const char *cl = header(buf, hlen, "Content-Length");
    if (!cl) goto out; /* libcurl sends Content-Length for these bodies */
    size_t body = strtoull(cl, NULL, 10);
    const char *expect = header(buf, hlen, "Expect");
    if (expect && strncasecmp(expect, "100-continue", 12) == 0 &&
        write_all(fd, cont, sizeof cont - 1) != 0)
      goto out;
    if (hlen + body > cap) {
      size_t ncap = hlen + body;
      char *nb = realloc(buf, ncap);
      if (!nb) goto out;
      buf = nb;
      cap = ncap;
    }
    while (have < hlen + body) {
      ssize_t r = read(fd, buf + have, cap - have);
      if (r <= 0) goto out;
      have += (size_t)r;
    }
    uint64_t lines = 0;
    for (const char *p = buf + hlen, *e = buf + hlen + body; (p = memchr(p, '\n', (size_t)(e - p))); p++)
      lines++;
    atomic_fetch_add(&sink_alerts, lines ? lines : (body ? 1 : 0));
    atomic_fetch_add(&sink_requests, 1);
    if (write_all(fd, ok, sizeof ok - 1) != 0) goto out;
    memmove(buf, buf + hlen + body, have - hlen - body);
    have -= hlen + body;
  }
out:
  free(buf);
  close(fd);
  return NULL;
}

static void *accept_loop(void *arg) {
  (void)arg;
  for (;;) {
    int c = accept(sink_fd, NULL, NULL);
    if (c < 0) continue;
    pthread_t t;
    if (pthread_create(&t, NULL, serve, (void *)(intptr_t)c) != 0) {
      close(c);
      continue;
    }
    pthread_detach(t);
  }
  return NULL;
}

int http_sink_start(void) {
  sink_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sink_fd < 0) return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(sink_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(sink_fd, 64) != 0 ||
      getsockname(sink_fd, (struct sockaddr *)&a, &len) != 0)
    return 0;
  pthread_t t;
  if (pthread_create(&t, NULL, accept_loop, NULL) != 0) return 0;
  pthread_detach(t);
  return ntohs(a.sin_port);
}

uint64_t http_sink_alerts(void) { return atomic_load(&sink_alerts); }
uint64_t http_sink_requests(void) { return atomic_load(&sink_requests); }
