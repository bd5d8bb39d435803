/* The limit: the same bytes written from memory in 1 MiB writes, nothing else.
 *
 *   write_limit SOURCE DEST
 *
 * Reads SOURCE (the output of a library run) into memory, then times writing it to DEST
 * (created or truncated, opened O_APPEND like the file channel) with 1 MiB write(2) calls.
 * Prints alerts (lines), bytes, seconds and alerts/s as key=value pairs. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: write_limit SOURCE DEST\n");
    return 2;
  }
  int in = open(argv[1], O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (in < 0 || fstat(in, &st) != 0) {
    perror(argv[1]);
    return 2;
  }
  size_t len = (size_t)st.st_size;
  char *buf = malloc(len ? len : 1);
  size_t got = 0;
  while (buf && got < len) {
    ssize_t r = read(in, buf + got, len - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(in);
  if (!buf || got != len) {
    fprintf(stderr, "write_limit: cannot read %s\n", argv[1]);
    return 2;
  }
  uint64_t lines = 0;
  for (const char *p = buf, *e = buf + len; (p = memchr(p, '\n', (size_t)(e - p))); p++) lines++;

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) {
    perror(argv[2]);
    return 2;
  }
  for (size_t off = 0; off < len;) {
    size_t n = len - off < CHUNK ? len - off : CHUNK;
    ssize_t w = write(out, buf + off, n);
    if (w <= 0) {
      perror("write");
      return 1;
    }
    off += (size_t)w;
  }
  close(out);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("alerts=%llu bytes=%zu secs=%.6f rate=%.0f\n", (unsigned long long)lines, len, secs,
         (double)lines / secs);
  free(buf);
  return 0;
}
