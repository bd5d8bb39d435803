/* The stdout channel, as a user capturing Falco's standard output sees it: fd 1 is redirected to
 * a file (dup2) before init, alerts are emitted in text and JSON, and the captured bytes are
 * compared whole. Includes the seed document's stdout example and a message with control
 * characters (one alert is always one line). */
#include "falco_outputs.h"

#include <fcntl.h>

#include "test_util.h"

#define T_SEED UINT64_C(1465294805408091526) /* 2016-06-07T10:20:05.408091526Z */
#define T_HACK UINT64_C(1507591916746609046) /* 2017-10-09T23:31:56.746609046Z */

static falco_outputs *open_yaml(const char *yaml) {
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = yaml;
  opts.hostname = "stdout-host";
  falco_outputs *h = NULL;
  char err[512] = "";
  falco_outputs_result rc = falco_outputs_init(&opts, &h, err, sizeof err);
  if (rc != FALCO_OUTPUTS_OK) FATAL("init: %s: %s", falco_outputs_result_str(rc), err);
  return h;
}

static void emit_all(falco_outputs *h) {
  const falco_field shadow_fields[] = {
      {"fd.name", "/etc/shadow", FALCO_FIELD_STRING},
      {"proc.cmdline", "cat /etc/shadow", FALCO_FIELD_STRING},
      {"user.name", "root", FALCO_FIELD_STRING},
  };
  const char *tags[] = {"filesystem", "mitre_credential_access"};
  falco_alert a;
  memset(&a, 0, sizeof a);
  a.time_ns = T_SEED;
  a.priority = FALCO_PRIORITY_WARNING;
  a.rule = "Read sensitive file untrusted";
  a.message = "Sensitive file opened for reading by non-trusted program (user=root "
              "command=cat /etc/shadow file=/etc/shadow)";
  a.fields = shadow_fields;
  a.fields_len = 3;
  a.tags = tags;
  a.tags_len = 2;
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);

  /* Control characters, quotes, backslashes and non-ASCII UTF-8 from an attacker-chosen name. */
  const falco_field evil_fields[] = {{"proc.name", "evil\tname\n", FALCO_FIELD_STRING}};
  memset(&a, 0, sizeof a);
  a.time_ns = T_HACK;
  a.priority = FALCO_PRIORITY_CRITICAL;
  a.rule = "Evil name";
  a.message = "proc=evil\tname\nforged \"line\" \\ \x1b[31mred caf\xc3\xa9";
  a.fields = evil_fields;
  a.fields_len = 1;
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);

  const falco_field drop_fields[] = {{"n_drops", "3", FALCO_FIELD_NUMBER}};
  CHECK_RC(falco_outputs_emit_msg(h, T_SEED, FALCO_PRIORITY_DEBUG, "Falco internal: drop",
                                  "3 system calls dropped", drop_fields, 1),
           FALCO_OUTPUTS_OK);
}

int main(void) {
  setenv("TZ", "UTC", 1);
  char *dir = tu_tmpdir("stdout");
  char *capture = tu_path(dir, "stdout.bin");

  fflush(stdout);
  int saved = dup(1);
  int fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (saved < 0 || fd < 0 || dup2(fd, 1) < 0) FATAL("redirecting stdout: %s", strerror(errno));
  close(fd);

  falco_outputs *h = open_yaml("stdout_output: {enabled: true}\nsyslog_output: {enabled: false}\n");
  emit_all(h);
  CHECK_RC(falco_outputs_close(h, 5000), FALCO_OUTPUTS_OK);

  h = open_yaml("stdout_output: {enabled: true}\nsyslog_output: {enabled: false}\n"
                "json_output: true\n");
  emit_all(h);
  CHECK_RC(falco_outputs_close(h, 5000), FALCO_OUTPUTS_OK);

  fflush(stdout);
  if (dup2(saved, 1) < 0) FATAL("restoring stdout");
  close(saved);

  const char *want =
      /* text */
      "10:20:05.408091526: Warning Sensitive file opened for reading by non-trusted program "
      "(user=root command=cat /etc/shadow file=/etc/shadow)\n"
      "23:31:56.746609046: Critical proc=evil\\tname\\nforged \\\"line\\\" \\\\ \\u001b[31mred "
      "caf\xc3\xa9\n"
      "10:20:05.408091526: Debug 3 system calls dropped (n_drops=3)\n"
      /* JSON */
      "{\"hostname\":\"stdout-host\",\"output\":\"10:20:05.408091526: Warning Sensitive file "
      "opened for reading by non-trusted program (user=root command=cat /etc/shadow "
      "file=/etc/shadow)\",\"output_fields\":{\"evt.time\":1465294805408091526,\"fd.name\":"
      "\"/etc/shadow\",\"proc.cmdline\":\"cat /etc/shadow\",\"user.name\":\"root\"},"
      "\"priority\":\"Warning\",\"rule\":\"Read sensitive file untrusted\",\"source\":"
      "\"syscall\",\"tags\":[\"filesystem\",\"mitre_credential_access\"],\"time\":"
      "\"2016-06-07T10:20:05.408091526Z\"}\n"
      "{\"hostname\":\"stdout-host\",\"output\":\"23:31:56.746609046: Critical proc=evil\\tname"
      "\\nforged \\\"line\\\" \\\\ \\u001b[31mred caf\xc3\xa9\",\"output_fields\":{\"evt.time\":"
      "1507591916746609046,\"proc.name\":\"evil\\tname\\n\"},\"priority\":\"Critical\","
      "\"rule\":\"Evil name\",\"source\":\"syscall\",\"tags\":[],\"time\":"
      "\"2017-10-09T23:31:56.746609046Z\"}\n"
      "{\"hostname\":\"stdout-host\",\"output\":\"3 system calls dropped\",\"output_fields\":"
      "{\"n_drops\":3},\"priority\":\"Debug\",\"rule\":\"Falco internal: drop\",\"source\":"
      "\"internal\",\"time\":\"2016-06-07T10:20:05.408091526Z\"}\n";

  size_t len;
  char *got = tu_read_file(capture, &len);
  CHECK_MSG(got != NULL, "cannot read %s", capture);
  if (got) {
    CHECK_MSG(len == strlen(want), "captured %zu bytes, want %zu", len, strlen(want));
    CHECK_STREQ(got, want);
  }
  free(got);
  tu_rmdir(dir);
  free(capture);
  free(dir);
  return tu_finish("test_stdout");
}
