/* Every function of the C API, through the public header, checked by what a user sees: the
 * exact lines in the output file, the counters, the stats text.
 *
 * Times are made predictable with TZ (set before init) and fixed event times:
 * 1470327477881781397 ns = 2016-08-04T16:17:57.881781397Z,
 * 1507591916746609046 ns = 2017-10-09T23:31:56.746609046Z (16:31:56 in US Pacific daylight time,
 * the seed document's example). */
#include "falco_outputs.h"

#include "test_util.h"

#ifndef FO_EXPECTED_VERSION
#error "FO_EXPECTED_VERSION (the crate version) must be defined by the build"
#endif

static const falco_field open_fields[] = {
    {"proc.cmdline", "cat /dev/null", FALCO_FIELD_STRING},
};
static const char *const open_tags[] = {"filesystem"};

/* "An open was seen" at 2016-08-04T16:17:57.881781397Z. */
static falco_alert open_alert(void) {
  falco_alert a;
  memset(&a, 0, sizeof a);
  a.time_ns = UINT64_C(1470327477881781397);
  a.priority = FALCO_PRIORITY_WARNING;
  a.rule = "Open seen";
  a.source = NULL; /* -> "syscall" */
  a.message = "An open was seen (command=cat /dev/null)";
  a.fields = open_fields;
  a.fields_len = 1;
  a.tags = open_tags;
  a.tags_len = 1;
  return a;
}

/* The seed document's JSON example: "Write below binary dir". Fields given unsorted, tags with
 * a duplicate: the JSON has them sorted and de-duplicated. */
static const falco_field hack_fields[] = {
    {"user.name", "root", FALCO_FIELD_STRING},
    {"proc.cmdline", "touch /bin/hack", FALCO_FIELD_STRING},
    {"fd.name", "/bin/hack", FALCO_FIELD_STRING},
};
static const char *const hack_tags[] = {"filesystem", "filesystem"};

static falco_alert hack_alert(void) {
  falco_alert a;
  memset(&a, 0, sizeof a);
  a.time_ns = UINT64_C(1507591916746609046);
  a.priority = FALCO_PRIORITY_ERROR;
  a.rule = "Write below binary dir";
  a.source = "syscall";
  a.message =
      "File below a known binary directory opened for writing (user=root command=touch /bin/hack "
      "file=/bin/hack)";
  a.fields = hack_fields;
  a.fields_len = 3;
  a.tags = hack_tags;
  a.tags_len = 2;
  return a;
}

/* Falco's drop notice (handle_msg), with a number and a bool field. */
static const falco_field drop_fields[] = {
    {"ebpf_enabled", "false", FALCO_FIELD_BOOL},
    {"n_drops", "3", FALCO_FIELD_NUMBER},
};
#define DROP_RULE "Falco internal: syscall event drop"
#define DROP_MSG "Falco internal: syscall event drop. 3 system calls dropped in last second."

static falco_outputs *open_with(const char *yaml, const char *hostname) {
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = yaml;
  opts.hostname = hostname;
  falco_outputs *h = (falco_outputs *)0x1; /* must be overwritten */
  char err[512] = "";
  falco_outputs_result rc = falco_outputs_init(&opts, &h, err, sizeof err);
  if (rc != FALCO_OUTPUTS_OK || h == NULL)
    FATAL("init failed: %s: %s\nconfig:\n%s", falco_outputs_result_str(rc), err, yaml);
  return h;
}

static void check_counts(falco_outputs *h, uint64_t accepted, uint64_t delivered) {
  falco_outputs_stats st;
  memset(&st, 0xAB, sizeof st);
  CHECK_RC(falco_outputs_get_stats(h, &st), FALCO_OUTPUTS_OK);
  CHECK_MSG(st.accepted == accepted, "accepted %" PRIu64 ", want %" PRIu64, st.accepted, accepted);
  CHECK_MSG(st.delivered == delivered, "delivered %" PRIu64 ", want %" PRIu64, st.delivered,
            delivered);
  CHECK_MSG(st.dropped == 0, "dropped %" PRIu64, st.dropped);
  CHECK_MSG(st.failed == 0, "failed %" PRIu64, st.failed);
  CHECK_MSG(st.filtered == 0, "filtered %" PRIu64, st.filtered);
  CHECK_MSG(st.pending == 0, "pending %" PRIu64, st.pending);
}

/* Reads path and checks it holds exactly the n lines of want, each ended by '\n'. */
static void check_file_lines(const char *path, const char *const *want, size_t n) {
  size_t len;
  char *buf = tu_read_file(path, &len);
  CHECK_MSG(buf != NULL, "cannot read %s", path);
  if (buf == NULL) return;
  char **lines;
  int unterminated;
  size_t count = tu_split_lines(buf, len, &lines, &unterminated);
  CHECK_MSG(!unterminated, "%s: last line has no newline", path);
  CHECK_MSG(count == n, "%s: %zu lines, want %zu", path, count, n);
  for (size_t i = 0; i < n && i < count; i++) CHECK_STREQ(lines[i], want[i]);
  free(lines);
  free(buf);
}

/* Text format, file channel with keep_alive false (open, append, close per alert). */
static void test_text_file(const char *dir) {
  setenv("TZ", "UTC", 1);
  char *path = tu_path(dir, "events.txt");
  char *yaml = NULL;
  if (asprintf(&yaml,
               "stdout_output: {enabled: false}\n"
               "syslog_output: {enabled: false}\n"
               "time_format_iso_8601: true\n"
               "file_output:\n"
               "  enabled: true\n"
               "  keep_alive: false\n"
               "  filename: %s\n",
               path) < 0)
    FATAL("asprintf");
  falco_outputs *h = open_with(yaml, "test-host");

  falco_alert a = open_alert();
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);
  falco_alert b = hack_alert();
  CHECK_RC(falco_outputs_emit(h, &b), FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_emit_msg(h, UINT64_C(1470327477881781397), FALCO_PRIORITY_CRITICAL,
                                  DROP_RULE, DROP_MSG, drop_fields, 2),
           FALCO_OUTPUTS_OK);
  /* A message without fields has no parenthesis; a NULL fields pointer with len 0 is fine. */
  CHECK_RC(falco_outputs_emit_msg(h, UINT64_C(1470327477881781397), FALCO_PRIORITY_NOTICE,
                                  "Falco internal", "hello", NULL, 0),
           FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_flush(h, 5000), FALCO_OUTPUTS_OK);
  check_counts(h, 4, 4);

  static const char *const want[] = {
      "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)",
      "2017-10-09T23:31:56.746609046+0000: Error File below a known binary directory opened for "
      "writing (user=root command=touch /bin/hack file=/bin/hack)",
      "2016-08-04T16:17:57.881781397+0000: Critical " DROP_MSG " (ebpf_enabled=false n_drops=3)",
      "2016-08-04T16:17:57.881781397+0000: Notice hello",
  };
  check_file_lines(path, want, 4);

  CHECK_RC(falco_outputs_close(h, 5000), FALCO_OUTPUTS_OK);
  free(yaml);
  free(path);
}

/* JSON format, keep_alive true, the seed document's example byte for byte (TZ = US Pacific), then
 * reopen after a rename: lines emitted after reopen go to the new file. */
static void test_json_file_and_reopen(const char *dir) {
  setenv("TZ", "PST8PDT,M3.2.0,M11.1.0", 1);
  char *path = tu_path(dir, "events.json");
  char *rotated = tu_path(dir, "events.json.1");
  char *yaml = NULL;
  if (asprintf(&yaml,
               "stdout_output: {enabled: false}\n"
               "syslog_output: {enabled: false}\n"
               "json_output: true\n"
               "file_output: {enabled: true, keep_alive: true, filename: '%s'}\n",
               path) < 0)
    FATAL("asprintf");
  falco_outputs *h = open_with(yaml, "h");

  falco_alert b = hack_alert();
  CHECK_RC(falco_outputs_emit(h, &b), FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_emit_msg(h, UINT64_C(1507591916746609046), FALCO_PRIORITY_CRITICAL,
                                  DROP_RULE, DROP_MSG, drop_fields, 2),
           FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_flush(h, 5000), FALCO_OUTPUTS_OK);
  check_counts(h, 2, 2);

  static const char *const want_before[] = {
      "{\"hostname\":\"h\",\"output\":\"16:31:56.746609046: Error File below a known binary "
      "directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)\","
      "\"output_fields\":{\"evt.time\":1507591916746609046,\"fd.name\":\"/bin/hack\","
      "\"proc.cmdline\":\"touch /bin/hack\",\"user.name\":\"root\"},\"priority\":\"Error\","
      "\"rule\":\"Write below binary dir\",\"source\":\"syscall\",\"tags\":[\"filesystem\"],"
      "\"time\":\"2017-10-09T23:31:56.746609046Z\"}",
      "{\"hostname\":\"h\",\"output\":\"" DROP_MSG "\",\"output_fields\":{\"ebpf_enabled\":false,"
      "\"n_drops\":3},\"priority\":\"Critical\",\"rule\":\"" DROP_RULE "\",\"source\":\"internal\","
      "\"time\":\"2017-10-09T23:31:56.746609046Z\"}",
  };
  check_file_lines(path, want_before, 2);

  /* logrotate's way: rename, then ask for a reopen. */
  CHECK_MSG(rename(path, rotated) == 0, "rename: %s", strerror(errno));
  falco_outputs_reopen(h);
  falco_alert a = open_alert();
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_flush(h, 5000), FALCO_OUTPUTS_OK);
  check_counts(h, 3, 3);

  static const char *const want_after[] = {
      "{\"hostname\":\"h\",\"output\":\"09:17:57.881781397: Warning An open was seen "
      "(command=cat /dev/null)\",\"output_fields\":{\"evt.time\":1470327477881781397,"
      "\"proc.cmdline\":\"cat /dev/null\"},\"priority\":\"Warning\",\"rule\":\"Open seen\","
      "\"source\":\"syscall\",\"tags\":[\"filesystem\"],"
      "\"time\":\"2016-08-04T16:17:57.881781397Z\"}",
  };
  check_file_lines(rotated, want_before, 2); /* the rotated file is untouched */
  check_file_lines(path, want_after, 1);

  /* stats_json, snprintf semantics. */
  size_t need = falco_outputs_stats_json(h, NULL, 0);
  CHECK_MSG(need > 2, "stats_json needs %zu bytes", need);
  char *full = malloc(need + 1);
  memset(full, 'X', need + 1);
  CHECK(falco_outputs_stats_json(h, full, need + 1) == need);
  CHECK(full[need] == '\0');
  CHECK(strlen(full) == need);
  CHECK_MSG(full[0] == '{' && full[need - 1] == '}', "stats_json: %s", full);
  CHECK_MSG(strstr(full, "\"file\"") != NULL, "stats_json names no file channel: %s", full);

  char small[8];
  memset(small, 'X', sizeof small);
  CHECK(falco_outputs_stats_json(h, small, sizeof small) == need);
  CHECK(small[7] == '\0');
  CHECK(memcmp(small, full, 7) == 0);

  char one[1] = {'X'};
  CHECK(falco_outputs_stats_json(h, one, 1) == need);
  CHECK(one[0] == '\0');

  char untouched[4] = {'X', 'X', 'X', 'X'};
  CHECK(falco_outputs_stats_json(h, untouched, 0) == need);
  CHECK(untouched[0] == 'X');
  free(full);

  CHECK_RC(falco_outputs_close(h, 5000), FALCO_OUTPUTS_OK);
  free(yaml);
  free(rotated);
  free(path);
}

/* config_path and overrides: the file enables the text file channel, an override switches
 * JSON on and drops the output property, config_yaml sets iso time. */
static void test_config_sources(const char *dir) {
  setenv("TZ", "UTC", 1);
  char *path = tu_path(dir, "sources.json");
  char *cfg = tu_path(dir, "falco.yaml");
  FILE *f = fopen(cfg, "w");
  if (f == NULL) FATAL("fopen %s", cfg);
  fprintf(f,
          "stdout_output:\n  enabled: false\nsyslog_output:\n  enabled: false\n"
          "file_output:\n  enabled: true\n  keep_alive: false\n  filename: %s\n"
          "some_unknown_top_level_key: 42\n",
          path);
  fclose(f);
  const char *const overrides[] = {"json_output=true", "json_include_output_property=false",
                                   "json_include_tags_property=false"};
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_path = cfg;
  opts.config_yaml = "time_format_iso_8601: true\n";
  opts.overrides = overrides;
  opts.overrides_len = 3;
  opts.hostname = "cfg-host";
  falco_outputs *h = NULL;
  char err[512] = "";
  CHECK_RC(falco_outputs_init(&opts, &h, err, sizeof err), FALCO_OUTPUTS_OK);
  if (h == NULL) {
    fprintf(stderr, "init: %s\n", err);
    return;
  }
  falco_alert a = open_alert();
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_close(h, 5000), FALCO_OUTPUTS_OK);
  static const char *const want[] = {
      "{\"hostname\":\"cfg-host\",\"output_fields\":{\"evt.time.iso8601\":1470327477881781397,"
      "\"proc.cmdline\":\"cat /dev/null\"},\"priority\":\"Warning\",\"rule\":\"Open seen\","
      "\"source\":\"syscall\",\"time\":\"2016-08-04T16:17:57.881781397Z\"}",
  };
  check_file_lines(path, want, 1); /* close flushed everything */
  free(cfg);
  free(path);
}

static void test_static_strings(void) {
  const char *v = falco_outputs_version();
  CHECK(v != NULL && v[0] != '\0');
  CHECK_MSG(v != NULL && strstr(v, FO_EXPECTED_VERSION) != NULL, "version \"%s\", crate %s",
            v ? v : "(null)", FO_EXPECTED_VERSION);

  static const falco_outputs_result all[] = {
      FALCO_OUTPUTS_OK,          FALCO_OUTPUTS_ERR_NULL_ARGUMENT, FALCO_OUTPUTS_ERR_INVALID_ARGUMENT,
      FALCO_OUTPUTS_ERR_CONFIG,  FALCO_OUTPUTS_ERR_QUEUE_FULL,    FALCO_OUTPUTS_ERR_CLOSED,
      FALCO_OUTPUTS_ERR_TIMEOUT, FALCO_OUTPUTS_ERR_IO,            FALCO_OUTPUTS_ERR_INTERNAL,
  };
  const size_t n = sizeof all / sizeof all[0];
  for (size_t i = 0; i < n; i++) {
    const char *s = falco_outputs_result_str(all[i]);
    CHECK_MSG(s != NULL && s[0] != '\0', "result_str(%d)", (int)all[i]);
    for (size_t j = 0; j < i; j++) {
      const char *t = falco_outputs_result_str(all[j]);
      CHECK_MSG(s && t && strcmp(s, t) != 0, "result_str(%d) == result_str(%d) == \"%s\"",
                (int)all[i], (int)all[j], s ? s : "");
    }
  }
  const char *unknown = falco_outputs_result_str((falco_outputs_result)99);
  CHECK_MSG(unknown != NULL && unknown[0] != '\0', "result_str(99)");
  for (size_t j = 0; j < n && unknown; j++)
    CHECK_MSG(strcmp(unknown, falco_outputs_result_str(all[j])) != 0,
              "result_str(99) reads like a real code: \"%s\"", unknown);
  const char *negative = falco_outputs_result_str((falco_outputs_result)-1);
  CHECK_MSG(negative != NULL && negative[0] != '\0', "result_str(-1)");
}

int main(void) {
  char *dir = tu_tmpdir("api");
  test_static_strings();
  test_text_file(dir);
  test_json_file_and_reopen(dir);
  test_config_sources(dir);
  tu_rmdir(dir);
  free(dir);
  return tu_finish("test_api");
}
