/* A minimal host in C (the demo host is demo/, in C++): emits a few realistic alerts (the seed document's
 * examples among them) and one internal message to stdout with the built-in default format
 * (text), then closes. Usage: demo_minimal [config_yaml]   (default: stdout only) */
#include "falco_outputs.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = argc > 1 ? argv[1] : "stdout_output: {enabled: true}\n";
  falco_outputs *h = NULL;
  char err[512] = "";
  falco_outputs_result rc = falco_outputs_init(&opts, &h, err, sizeof err);
  if (rc != FALCO_OUTPUTS_OK) {
    fprintf(stderr, "demo: init failed: %s: %s\n", falco_outputs_result_str(rc), err);
    return 1;
  }

  const falco_field shadow[] = {{"fd.name", "/etc/shadow", FALCO_FIELD_STRING},
                                {"proc.cmdline", "cat /etc/shadow", FALCO_FIELD_STRING},
                                {"user.name", "root", FALCO_FIELD_STRING}};
  const char *shadow_tags[] = {"filesystem", "mitre_credential_access"};
  const falco_field hack[] = {{"fd.name", "/bin/hack", FALCO_FIELD_STRING},
                              {"proc.cmdline", "touch /bin/hack", FALCO_FIELD_STRING},
                              {"user.name", "root", FALCO_FIELD_STRING}};
  const char *hack_tags[] = {"filesystem", "mitre_persistence"};
  const falco_field shell[] = {{"container.id", "3ad7b26ded6d", FALCO_FIELD_STRING},
                               {"proc.cmdline", "bash -il", FALCO_FIELD_STRING},
                               {"proc.pid", "34817", FALCO_FIELD_NUMBER},
                               {"user.name", "root", FALCO_FIELD_STRING}};
  const char *shell_tags[] = {"container", "shell", "mitre_execution"};
  falco_alert alerts[] = {
      {now_ns(), FALCO_PRIORITY_WARNING, "Read sensitive file untrusted", "syscall",
       "Sensitive file opened for reading by non-trusted program (user=root command=cat "
       "/etc/shadow file=/etc/shadow)",
       shadow, 3, shadow_tags, 2},
      {now_ns(), FALCO_PRIORITY_ERROR, "Write below binary dir", "syscall",
       "File below a known binary directory opened for writing (user=root command=touch "
       "/bin/hack file=/bin/hack)",
       hack, 3, hack_tags, 2},
      {now_ns(), FALCO_PRIORITY_NOTICE, "Terminal shell in container", "syscall",
       "A shell was spawned in a container with an attached terminal (user=root "
       "container_id=3ad7b26ded6d shell=bash parent=runc cmdline=bash -il)",
       shell, 4, shell_tags, 3},
  };
  for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++) {
    rc = falco_outputs_emit(h, &alerts[i]);
    if (rc != FALCO_OUTPUTS_OK) fprintf(stderr, "demo: emit: %s\n", falco_outputs_result_str(rc));
  }
  const falco_field drops[] = {{"n_drops", "3", FALCO_FIELD_NUMBER},
                               {"n_evts", "100000", FALCO_FIELD_NUMBER}};
  falco_outputs_emit_msg(h, now_ns(), FALCO_PRIORITY_DEBUG, "Falco internal: syscall event drop",
                         "Falco internal: syscall event drop. 3 system calls dropped in last "
                         "second.",
                         drops, 2);

  rc = falco_outputs_close(h, 0);
  if (rc != FALCO_OUTPUTS_OK) {
    fprintf(stderr, "demo: close: %s\n", falco_outputs_result_str(rc));
    return 1;
  }
  return 0;
}
