/* Small helpers shared by the C tests: checks that report file:line, temp directories, reading
 * files back. Tests print to stderr (test_stdout captures fd 1). Not part of the library.
 * Include falco_outputs.h first; the tests are built with _GNU_SOURCE (asprintf, mkdtemp). */
#ifndef FALCO_OUTPUTS_TEST_UTIL_H
#define FALCO_OUTPUTS_TEST_UTIL_H


#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int tu_checks = 0;
static int tu_failures = 0;

#define CHECK(cond)                                                                       \
  do {                                                                                    \
    tu_checks++;                                                                          \
    if (!(cond)) {                                                                        \
      tu_failures++;                                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);            \
    }                                                                                     \
  } while (0)

#define CHECK_MSG(cond, ...)                                                              \
  do {                                                                                    \
    tu_checks++;                                                                          \
    if (!(cond)) {                                                                        \
      tu_failures++;                                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);            \
      fprintf(stderr, __VA_ARGS__);                                                       \
      fputc('\n', stderr);                                                                \
    }                                                                                     \
  } while (0)

#define CHECK_RC(expr, want)                                                              \
  do {                                                                                    \
    int tu_got_ = (int)(expr);                                                            \
    int tu_want_ = (int)(want);                                                           \
    tu_checks++;                                                                          \
    if (tu_got_ != tu_want_) {                                                            \
      tu_failures++;                                                                      \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n", __FILE__,         \
              __LINE__, #expr, tu_got_, falco_outputs_result_str((falco_outputs_result)tu_got_), \
              tu_want_, falco_outputs_result_str((falco_outputs_result)tu_want_));        \
    }                                                                                     \
  } while (0)

/* Compares two strings; on a mismatch shows both and where they first differ. */
#define CHECK_STREQ(got, want)                                                            \
  do {                                                                                    \
    const char *tu_g_ = (got);                                                            \
    const char *tu_w_ = (want);                                                           \
    tu_checks++;                                                                          \
    if (tu_g_ == NULL || strcmp(tu_g_, tu_w_) != 0) {                                     \
      tu_failures++;                                                                      \
      fprintf(stderr, "%s:%d: %s differs\n  got:  %s\n  want: %s\n", __FILE__, __LINE__,  \
              #got, tu_g_ ? tu_g_ : "(null)", tu_w_);                                     \
      if (tu_g_) {                                                                        \
        size_t tu_i_ = 0;                                                                 \
        while (tu_g_[tu_i_] && tu_g_[tu_i_] == tu_w_[tu_i_]) tu_i_++;                     \
        fprintf(stderr, "  first difference at byte %zu\n", tu_i_);                       \
      }                                                                                   \
    }                                                                                     \
  } while (0)

#define FATAL(...)                                                                        \
  do {                                                                                    \
    fprintf(stderr, "%s:%d: fatal: ", __FILE__, __LINE__);                                \
    fprintf(stderr, __VA_ARGS__);                                                         \
    fputc('\n', stderr);                                                                  \
    exit(2);                                                                              \
  } while (0)

/* Prints the summary line and gives main's exit code. */
static inline int tu_finish(const char *name) {
  fprintf(stderr, "%s: %d checks, %d passed, %d failed\n", name, tu_checks,
          tu_checks - tu_failures, tu_failures);
  return tu_failures == 0 ? 0 : 1;
}

/* A fresh directory under $TMPDIR (or /tmp). The caller frees the string. */
static inline char *tu_tmpdir(const char *tag) {
  const char *base = getenv("TMPDIR");
  if (base == NULL || *base == '\0') base = "/tmp";
  char *path = NULL;
  if (asprintf(&path, "%s/fo-%s-XXXXXX", base, tag) < 0) FATAL("asprintf");
  if (mkdtemp(path) == NULL) FATAL("mkdtemp %s: %s", path, strerror(errno));
  return path;
}

/* Removes a flat directory made by tu_tmpdir and the files in it. */
static inline void tu_rmdir(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, e->d_name) >= 0) {
      unlink(p);
      free(p);
    }
  }
  closedir(d);
  rmdir(dir);
}

static inline char *tu_path(const char *dir, const char *name) {
  char *p = NULL;
  if (asprintf(&p, "%s/%s", dir, name) < 0) FATAL("asprintf");
  return p;
}

/* The whole file, NUL-terminated; *len gets its size. NULL (and *len 0) if it cannot be read. */
static inline char *tu_read_file(const char *path, size_t *len) {
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  if (buf == NULL) FATAL("malloc");
  for (;;) {
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
      if (buf == NULL) FATAL("realloc");
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    if (got == 0) break;
    n += got;
  }
  fclose(f);
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Splits a file's content into lines (in place; the trailing '\n' of each is removed).
 * Returns the number of lines; *lines gets a malloc'd array of pointers into buf.
 * *unterminated is set when the last byte of a non-empty buffer is not '\n'. */
static inline size_t tu_split_lines(char *buf, size_t len, char ***lines, int *unterminated) {
  size_t count = 0, cap = 16;
  char **v = malloc(cap * sizeof *v);
  if (v == NULL) FATAL("malloc");
  *unterminated = len > 0 && buf[len - 1] != '\n';
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (buf[i] == '\n') {
      buf[i] = '\0';
      if (count == cap) {
        cap *= 2;
        v = realloc(v, cap * sizeof *v);
        if (v == NULL) FATAL("realloc");
      }
      v[count++] = buf + start;
      start = i + 1;
    }
  }
  *lines = v;
  return count;
}

/* Collects the library's log lines (the log callback) into one buffer, for tests that check
 * what the library reported. Thread-safe enough for tests: appends under a mutex. */
#include <pthread.h>
typedef struct tu_log {
  pthread_mutex_t mu;
  char text[65536];
  size_t len;
  int lines;
} tu_log;

static inline void tu_log_fn(void *userdata, int32_t level, const char *message) {
  tu_log *log = userdata;
  pthread_mutex_lock(&log->mu);
  int n = snprintf(log->text + log->len, sizeof log->text - log->len, "[%d] %s\n", (int)level,
                   message ? message : "(null)");
  if (n > 0) {
    log->len += (size_t)n;
    if (log->len >= sizeof log->text) log->len = sizeof log->text - 1;
  }
  log->lines++;
  pthread_mutex_unlock(&log->mu);
}

#endif
