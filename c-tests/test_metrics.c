/* falco_outputs_metrics_text through the header: snprintf semantics at every buffer size
 * (NULL, 0, 1, too short, exact), hostile arguments (NULL handle), and that the samples carry
 * the counters a user would check: a file channel that delivered 2 alerts and filtered 1, and a
 * named extra_outputs file channel routed by `match` (1 delivered, 2 filtered) under its name. */
#include "falco_outputs.h"

#include "test_util.h"

#define T0 UINT64_C(1465294805408091526)

static void emit(falco_outputs *h, int32_t priority) {
  falco_alert a;
  memset(&a, 0, sizeof a);
  a.time_ns = T0;
  a.priority = priority;
  a.rule = "r";
  a.message = "m";
  CHECK_RC(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);
}

int main(void) {
  /* A NULL handle: nothing written, 0 returned, whatever the buffer. */
  char small[8] = "xxxxxxx";
  CHECK(falco_outputs_metrics_text(NULL, NULL, 0) == 0);
  CHECK(falco_outputs_metrics_text(NULL, small, sizeof small) == 0);
  CHECK(strcmp(small, "xxxxxxx") == 0);

  char *dir = tu_tmpdir("metrics");
  char *path = tu_path(dir, "alerts.txt");
  char *errors_path = tu_path(dir, "errors.txt");
  char *yaml = NULL;
  if (asprintf(&yaml,
               "file_output: {enabled: true, filename: %s, min_priority: warning}\n"
               "extra_outputs:\n"
               "  - {name: errors-only, type: file, filename: %s,\n"
               "     match: {min_priority: error, rules: [\"r*\"]}}\n",
               path, errors_path) < 0)
    FATAL("asprintf");
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = yaml;
  falco_outputs *h = NULL;
  char err[512] = "";
  if (falco_outputs_init(&opts, &h, err, sizeof err) != FALCO_OUTPUTS_OK) FATAL("init: %s", err);

  emit(h, FALCO_PRIORITY_ERROR);
  emit(h, FALCO_PRIORITY_WARNING);
  emit(h, FALCO_PRIORITY_DEBUG); /* below min_priority: filtered */
  CHECK_RC(falco_outputs_flush(h, 10000), FALCO_OUTPUTS_OK);

  /* snprintf: the needed length without the NUL, and a NUL-terminated prefix of it. */
  size_t need = falco_outputs_metrics_text(h, NULL, 0);
  CHECK_MSG(need > 100, "metrics_text needs %zu bytes", need);
  char one[1] = {'x'};
  CHECK(falco_outputs_metrics_text(h, one, 1) == need);
  CHECK(one[0] == '\0');
  CHECK(falco_outputs_metrics_text(h, small, sizeof small) == need);
  CHECK(strlen(small) == sizeof small - 1);
  CHECK(strncmp(small, "# HELP ", 7) == 0);
  char *full = malloc(need + 1);
  if (!full) FATAL("malloc");
  CHECK(falco_outputs_metrics_text(h, full, need + 1) == need);
  CHECK(strlen(full) == need);
  CHECK(full[need - 1] == '\n');
  /* One byte short: the last character is cut, the text stays terminated. */
  CHECK(falco_outputs_metrics_text(h, full, need) == need);
  CHECK(strlen(full) == need - 1);
  CHECK(falco_outputs_metrics_text(h, full, need + 1) == need);

  const char *want[] = {
      "falcosecurity_falco_outputs_alerts_accepted_total 3\n",
      "falcosecurity_falco_outputs_alerts_total{channel=\"file\",status=\"delivered\"} 2\n",
      "falcosecurity_falco_outputs_alerts_total{channel=\"file\",status=\"filtered\"} 1\n",
      "falcosecurity_falco_outputs_alerts_total{channel=\"file\",status=\"failed\"} 0\n",
      "falcosecurity_falco_outputs_alerts_pending{channel=\"file\"} 0\n",
      "falcosecurity_falco_outputs_queue_depth{channel=\"file\"} 0\n",
      "# TYPE falcosecurity_falco_outputs_alerts_total counter\n",
      "falcosecurity_falco_outputs_alerts_total{channel=\"errors-only\",status=\"delivered\"} 1\n",
      "falcosecurity_falco_outputs_alerts_total{channel=\"errors-only\",status=\"filtered\"} 2\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    CHECK_MSG(strstr(full, want[i]) != NULL, "missing %s in:\n%s", want[i], full);
  /* The last success is a recent Unix time in seconds. */
  const char *ts = strstr(full, "last_success_timestamp_seconds{channel=\"file\"} ");
  CHECK(ts != NULL);
  if (ts) {
    double secs = strtod(strchr(ts, ' ') + 1, NULL);
    CHECK_MSG(secs > 1.7e9, "last success %f", secs);
  }

  /* The routed file holds exactly the one Error alert. */
  size_t len = 0;
  char *errors = tu_read_file(errors_path, &len);
  CHECK_MSG(errors != NULL && strstr(errors, ": Error m\n") != NULL && strchr(errors, '\n') == errors + len - 1,
            "errors.txt: %s", errors ? errors : "(missing)");
  free(errors);
  free(full);
  CHECK_RC(falco_outputs_close(h, 0), FALCO_OUTPUTS_OK);
  free(yaml);
  free(path);
  free(errors_path);
  tu_rmdir(dir);
  free(dir);
  return tu_finish("test_metrics");
}
