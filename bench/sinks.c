/* Loopback sinks for the Falco rows of bench/run (bench/falco_rows.py): the HTTP sink of
 * http_sink.c and a unix datagram socket (syslog) drained as fast as it fills, so that neither
 * peer is what a run measures.
 *
 *   sinks SYSLOG_PATH      prints "port=<http port>", drains until stdin closes, then prints
 *                          "http_alerts=N http_requests=N syslog=N" */
#define _GNU_SOURCE
#include "http_sink.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static atomic_uint_fast64_t datagrams;

static void *drain(void *arg) {
  int fd = (int)(intptr_t)arg;
  static char buf[1 << 17];
  for (;;) {
    if (recv(fd, buf, sizeof buf, 0) < 0) return NULL;
    atomic_fetch_add(&datagrams, 1);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: sinks SYSLOG_PATH\n");
    return 2;
  }
  int port = http_sink_start();
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
  unlink(argv[1]);
  int big = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (port == 0 || fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    perror("sinks");
    return 1;
  }
  pthread_t t;
  pthread_create(&t, NULL, drain, (void *)(intptr_t)fd);
  printf("port=%d\n", port);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  unlink(argv[1]);
  printf("http_alerts=%llu http_requests=%llu syslog=%llu\n",
         (unsigned long long)http_sink_alerts(), (unsigned long long)http_sink_requests(),
         (unsigned long long)atomic_load(&datagrams));
  return 0;
}
