/* What a careless or hostile host can pass: NULL pointers, out-of-range numbers, invalid UTF-8,
 * a huge message, bad configurations, NULL or tiny error buffers. Every call returns the
 * documented code and the process lives on; what reaches the file is checked byte for byte. */
#include "falco_outputs.h"

#include "test_util.h"

#define T0 UINT64_C(1470327477881781397) /* 2016-08-04T16:17:57.881781397Z */
#define FFFD "\xEF\xBF\xBD"

static falco_alert plain_alert(void) {
  falco_alert a;
  memset(&a, 0, sizeof a);
  a.time_ns = T0;
  a.priority = FALCO_PRIORITY_WARNING;
  a.rule = "r";
  a.message = "m";
  return a;
}

static falco_outputs *open_yaml(const char *yaml) {
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = yaml;
  opts.hostname = "h";
  falco_outputs *h = NULL;
  char err[512] = "";
  falco_outputs_result rc = falco_outputs_init(&opts, &h, err, sizeof err);
  if (rc != FALCO_OUTPUTS_OK || h == NULL)
    FATAL("init failed: %s: %s\nconfig:\n%s", falco_outputs_result_str(rc), err, yaml);
  return h;
}

static char *file_yaml(const char *path, const char *extra) {
  char *yaml = NULL;
  if (asprintf(&yaml,
               "stdout_output: {enabled: false}\n"
               "syslog_output: {enabled: false}\n"
               "time_format_iso_8601: true\n"
               "%s"
               "file_output: {enabled: true, keep_alive: true, filename: '%s'}\n",
               extra, path) < 0)
    FATAL("asprintf");
  return yaml;
}

/* Arguments that are refused: the code, no crash, nothing written, nothing counted. */
static void test_refused_arguments(const char *dir) {
  char *path = tu_path(dir, "refused.txt");
  char *yaml = file_yaml(path, "");

  /* init */
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = yaml;
  falco_outputs *h = (falco_outputs *)0x1;
  char err[256];
  CHECK_RC(falco_outputs_init(NULL, &h, err, sizeof err), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  CHECK(h == NULL);
  CHECK_RC(falco_outputs_init(&opts, NULL, err, sizeof err), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  CHECK_RC(falco_outputs_init(NULL, NULL, NULL, 0), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);

  h = open_yaml(yaml);
  falco_alert a;
  falco_field one_field[] = {{"k", "v", FALCO_FIELD_STRING}};

  CHECK_RC(falco_outputs_emit(h, NULL), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  a = plain_alert();
  a.rule = NULL;
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  a = plain_alert();
  a.message = NULL;
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  a = plain_alert();
  a.fields = NULL;
  a.fields_len = 3;
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  a = plain_alert();
  a.tags = NULL;
  a.tags_len = 2;
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);

  const int32_t bad_priorities[] = {-1, 8, INT32_MAX, INT32_MIN};
  for (size_t i = 0; i < sizeof bad_priorities / sizeof bad_priorities[0]; i++) {
    a = plain_alert();
    a.priority = bad_priorities[i];
    CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_INVALID_ARGUMENT);
    CHECK_RC(falco_outputs_emit_msg(h, T0, bad_priorities[i], "r", "m", NULL, 0),
             FALCO_OUTPUTS_ERR_INVALID_ARGUMENT);
  }
  const int32_t bad_kinds[] = {5, -1, INT32_MAX};
  for (size_t i = 0; i < sizeof bad_kinds / sizeof bad_kinds[0]; i++) {
    falco_field f[] = {{"k", "v", FALCO_FIELD_STRING}, {"k2", "v2", bad_kinds[i]}};
    a = plain_alert();
    a.fields = f;
    a.fields_len = 2;
    CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_INVALID_ARGUMENT);
    CHECK_RC(falco_outputs_emit_msg(h, T0, FALCO_PRIORITY_ERROR, "r", "m", f, 2),
             FALCO_OUTPUTS_ERR_INVALID_ARGUMENT);
  }

  CHECK_RC(falco_outputs_emit_msg(h, T0, FALCO_PRIORITY_ERROR, NULL, "m", NULL, 0),
           FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  CHECK_RC(falco_outputs_emit_msg(h, T0, FALCO_PRIORITY_ERROR, "r", NULL, NULL, 0),
           FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  CHECK_RC(falco_outputs_emit_msg(h, T0, FALCO_PRIORITY_ERROR, "r", "m", NULL, 1),
           FALCO_OUTPUTS_ERR_NULL_ARGUMENT);

  /* NULL handle everywhere. */
  a = plain_alert();
  falco_outputs_stats st;
  char buf[64] = "untouched";
  CHECK_RC(falco_outputs_emit(NULL, &a), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  CHECK_RC(falco_outputs_emit_msg(NULL, T0, FALCO_PRIORITY_ERROR, "r", "m", one_field, 1),
           FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  CHECK_RC(falco_outputs_flush(NULL, 100), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  CHECK_RC(falco_outputs_get_stats(NULL, &st), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  CHECK_RC(falco_outputs_get_stats(h, NULL), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
  CHECK(falco_outputs_stats_json(NULL, buf, sizeof buf) == 0);
  CHECK(falco_outputs_stats_json(NULL, NULL, 0) == 0);
  falco_outputs_reopen(NULL); /* a no-op */
  CHECK_RC(falco_outputs_close(NULL, 100), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);

  /* A NULL field name or NULL tag element inside the arrays: refused or accepted, never a
   * crash. */
  falco_field null_name[] = {{NULL, "v", FALCO_FIELD_STRING}};
  a = plain_alert();
  a.fields = null_name;
  a.fields_len = 1;
  int rc = falco_outputs_emit(h, &a);
  CHECK_MSG(rc == FALCO_OUTPUTS_ERR_NULL_ARGUMENT || rc == FALCO_OUTPUTS_OK, "rc %d", rc);
  int accepted_extra = rc == FALCO_OUTPUTS_OK;
  const char *null_tag[] = {NULL};
  a = plain_alert();
  a.tags = null_tag;
  a.tags_len = 1;
  rc = falco_outputs_emit(h, &a);
  CHECK_MSG(rc == FALCO_OUTPUTS_ERR_NULL_ARGUMENT || rc == FALCO_OUTPUTS_OK, "rc %d", rc);
  accepted_extra += rc == FALCO_OUTPUTS_OK;

  /* A NULL value is fine (JSON null) and so is a fields pointer with len 0. */
  falco_field null_value[] = {{"k", NULL, FALCO_FIELD_STRING}};
  a = plain_alert();
  a.fields = null_value;
  a.fields_len = 1;
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);

  CHECK_RC(falco_outputs_flush(h, 5000), FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_get_stats(h, &st), FALCO_OUTPUTS_OK);
  CHECK_MSG(st.accepted == (uint64_t)(1 + accepted_extra), "accepted %" PRIu64, st.accepted);
  CHECK_RC(falco_outputs_close(h, 5000), FALCO_OUTPUTS_OK);

  /* Only the accepted alerts reached the file. */
  size_t len;
  char *content = tu_read_file(path, &len);
  char **lines;
  int unterminated;
  size_t n = content ? tu_split_lines(content, len, &lines, &unterminated) : 0;
  CHECK_MSG(n == (size_t)(1 + accepted_extra), "%zu lines in %s", n, path);
  if (content) {
    for (size_t i = 0; i < n; i++)
      CHECK_STREQ(lines[i], "2016-08-04T16:17:57.881781397+0000: Warning m");
    free(lines);
  }
  free(content);
  free(yaml);
  free(path);
}

/* Invalid UTF-8 anywhere becomes U+FFFD (EF BF BD) in what is written. */
static void test_invalid_utf8(const char *dir) {
  char *path = tu_path(dir, "utf8.json");
  char *yaml = file_yaml(path, "json_output: true\n");
  falco_outputs *h = open_yaml(yaml);

  falco_field f[] = {{"na\xffme", "va\xfe", FALCO_FIELD_STRING}};
  const char *tags[] = {"t\xff"};
  falco_alert a = plain_alert();
  a.rule = "bad\xffrule";
  a.source = "sys\x80" "call";
  a.message = "msg \xc3\x28 end"; /* a truncated 2-byte sequence, then '(' */
  a.fields = f;
  a.fields_len = 1;
  a.tags = tags;
  a.tags_len = 1;
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);
  falco_field mf[] = {{"ke\xffy", "\xff", FALCO_FIELD_STRING}};
  CHECK_RC(falco_outputs_emit_msg(h, T0, FALCO_PRIORITY_NOTICE, "ru\xffle", "me\xffssage", mf, 1),
           FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_close(h, 5000), FALCO_OUTPUTS_OK);

  size_t len;
  char *content = tu_read_file(path, &len);
  CHECK_MSG(content != NULL, "cannot read %s", path);
  if (content) {
    char **lines;
    int unterminated;
    size_t n = tu_split_lines(content, len, &lines, &unterminated);
    CHECK_MSG(n == 2, "%zu lines", n);
    if (n == 2) {
      CHECK_STREQ(lines[0],
                  "{\"hostname\":\"h\",\"output\":\"2016-08-04T16:17:57.881781397+0000: Warning msg "
                  FFFD "( end\",\"output_fields\":{\"evt.time.iso8601\":1470327477881781397,"
                  "\"na" FFFD "me\":\"va" FFFD "\"},\"priority\":\"Warning\",\"rule\":\"bad" FFFD
                  "rule\",\"source\":\"sys" FFFD "call\",\"tags\":[\"t" FFFD "\"],"
                  "\"time\":\"2016-08-04T16:17:57.881781397Z\"}");
      CHECK_STREQ(lines[1], "{\"hostname\":\"h\",\"output\":\"me" FFFD "ssage\",\"output_fields\":"
                            "{\"ke" FFFD "y\":\"" FFFD "\"},\"priority\":\"Notice\",\"rule\":\"ru"
                            FFFD "le\",\"source\":\"internal\","
                            "\"time\":\"2016-08-04T16:17:57.881781397Z\"}");
    }
    free(lines);
  }
  free(content);
  free(yaml);
  free(path);
}

/* A 16 MiB message is written whole, as one line. */
static void test_huge_message(const char *dir) {
  char *path = tu_path(dir, "huge.txt");
  char *yaml = file_yaml(path, "");
  falco_outputs *h = open_yaml(yaml);

  const size_t size = (size_t)16 << 20;
  char *msg = malloc(size + 1);
  if (msg == NULL) FATAL("malloc");
  for (size_t i = 0; i < size; i++) msg[i] = (char)('a' + (i * 7 + i / 26) % 26);
  msg[size] = '\0';
  falco_alert a = plain_alert();
  a.message = msg;
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);
  CHECK_RC(falco_outputs_close(h, 10000), FALCO_OUTPUTS_OK);

  const char prefix[] = "2016-08-04T16:17:57.881781397+0000: Warning ";
  const size_t plen = sizeof prefix - 1;
  size_t len;
  char *content = tu_read_file(path, &len);
  CHECK_MSG(len == plen + size + 1, "file is %zu bytes, want %zu", len, plen + size + 1);
  if (content && len == plen + size + 1) {
    CHECK(memcmp(content, prefix, plen) == 0);
    CHECK(memcmp(content + plen, msg, size) == 0);
    CHECK(content[len - 1] == '\n');
  }
  free(content);
  free(msg);
  free(yaml);
  free(path);
}

/* A refused configuration: the code, *out NULL, and an error text that contains each needle. */
static void expect_init_failure(const char *what, const char *yaml, const char *config_path,
                                falco_outputs_result want, const char *needle1,
                                const char *needle2) {
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = yaml;
  opts.config_path = config_path;
  falco_outputs *h = (falco_outputs *)0x1;
  char err[1024];
  memset(err, 'X', sizeof err);
  falco_outputs_result rc = falco_outputs_init(&opts, &h, err, sizeof err);
  CHECK_MSG(rc == want, "%s: got %d (%s), want %d", what, (int)rc, falco_outputs_result_str(rc),
            (int)want);
  CHECK_MSG(h == NULL, "%s: *out not NULL after a failure", what);
  CHECK_MSG(memchr(err, '\0', sizeof err) != NULL, "%s: errbuf not NUL-terminated", what);
  err[sizeof err - 1] = '\0';
  fprintf(stderr, "  %s -> %s: %s\n", what, falco_outputs_result_str(rc), err);
  CHECK_MSG(needle1 == NULL || strstr(err, needle1) != NULL, "%s: error does not name \"%s\": %s",
            what, needle1, err);
  CHECK_MSG(needle2 == NULL || strstr(err, needle2) != NULL, "%s: error does not name \"%s\": %s",
            what, needle2, err);
  if (h != NULL && h != (falco_outputs *)0x1) falco_outputs_close(h, 1000);
}

static void test_bad_configs(const char *dir) {
  expect_init_failure("no output enabled",
                      "stdout_output: {enabled: false}\nsyslog_output: {enabled: false}\n"
                      "file_output: {enabled: false}\n",
                      NULL, FALCO_OUTPUTS_ERR_CONFIG, "output", NULL);
  expect_init_failure("file output without filename",
                      "stdout_output: {enabled: false}\nsyslog_output: {enabled: false}\n"
                      "file_output: {enabled: true}\n",
                      NULL, FALCO_OUTPUTS_ERR_CONFIG, "file", "filename");
  expect_init_failure("keep_alive: maybe",
                      "stdout_output: {enabled: true}\nsyslog_output: {enabled: false}\n"
                      "file_output: {enabled: true, keep_alive: maybe, filename: /tmp/x}\n",
                      NULL, FALCO_OUTPUTS_ERR_CONFIG, "file_output.keep_alive", "maybe");
  expect_init_failure("YAML syntax error", "stdout_output: {enabled: true\n", NULL,
                      FALCO_OUTPUTS_ERR_CONFIG, NULL, NULL);

  char *missing = tu_path(dir, "no/such/dir/events.txt");
  char *yaml = NULL;
  if (asprintf(&yaml,
               "stdout_output: {enabled: false}\nsyslog_output: {enabled: false}\n"
               "file_output: {enabled: true, keep_alive: true, filename: '%s'}\n",
               missing) < 0)
    FATAL("asprintf");
  expect_init_failure("missing directory", yaml, NULL, FALCO_OUTPUTS_ERR_IO, missing, NULL);
  free(yaml);

  char *no_config = tu_path(dir, "no-such-falco.yaml");
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_path = no_config;
  falco_outputs *h = (falco_outputs *)0x1;
  char err[512] = "";
  falco_outputs_result rc = falco_outputs_init(&opts, &h, err, sizeof err);
  CHECK_MSG(rc == FALCO_OUTPUTS_ERR_IO || rc == FALCO_OUTPUTS_ERR_CONFIG,
            "missing config_path: %d", (int)rc);
  CHECK(h == NULL);
  CHECK_MSG(strstr(err, no_config) != NULL, "error does not name the config path: %s", err);
  free(no_config);

  /* errbuf NULL with a length, a 1-byte errbuf, a short errbuf, a zero length. */
  const char *bad = "stdout_output: {enabled: false}\nsyslog_output: {enabled: false}\n";
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = bad;
  h = (falco_outputs *)0x1;
  CHECK_RC(falco_outputs_init(&opts, &h, NULL, 100), FALCO_OUTPUTS_ERR_CONFIG);
  CHECK(h == NULL);
  char tiny[1] = {'X'};
  CHECK_RC(falco_outputs_init(&opts, &h, tiny, 1), FALCO_OUTPUTS_ERR_CONFIG);
  CHECK(tiny[0] == '\0');
  char small[6];
  memset(small, 'X', sizeof small);
  CHECK_RC(falco_outputs_init(&opts, &h, small, 5), FALCO_OUTPUTS_ERR_CONFIG);
  CHECK(strlen(small) == 4);
  CHECK(small[5] == 'X'); /* nothing written past errbuf_len */
  char zero[2] = {'X', 'X'};
  CHECK_RC(falco_outputs_init(&opts, &h, zero, 0), FALCO_OUTPUTS_ERR_CONFIG);
  CHECK(zero[0] == 'X');
  CHECK(h == NULL);
  free(missing);
}

int main(void) {
  setenv("TZ", "UTC", 1);
  char *dir = tu_tmpdir("hostile");
  test_refused_arguments(dir);
  test_invalid_utf8(dir);
  test_huge_message(dir);
  test_bad_configs(dir);
  tu_rmdir(dir);
  free(dir);
  return tu_finish("test_hostile");
}
