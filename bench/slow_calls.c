/* Where a slow falco_outputs_emit goes at a paced rate: emits the seed alert N times at R
 * alerts/s into a file and prints every call slower than T us with what the thread did during
 * it (getrusage(RUSAGE_THREAD) around the call: involuntary context switches, page faults).
 * Run it under `strace -T` to see that the calls make no system call.
 *
 *   slow_calls FILE [R=100] [N=500] [T=50]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "paced.h"
#include "seed_falco_alert.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: slow_calls FILE [RATE=100] [N=500] [THRESHOLD_US=50]\n");
    return 2;
  }
  double rate = argc > 2 ? atof(argv[2]) : 100;
  int n = argc > 3 ? atoi(argv[3]) : 500;
  uint64_t threshold_ns = (uint64_t)(argc > 4 ? atoi(argv[4]) : 50) * 1000;
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "json_output: true\nstdout_output: {enabled: false}\n"
           "file_output: {enabled: true, filename: \"%s\", keep_alive: true}\n",
           argv[1]);
  falco_outputs_options opts = {.config_yaml = yaml, .hostname = SEED_HOSTNAME};
  falco_outputs *out;
  char err[256];
  if (falco_outputs_init(&opts, &out, err, sizeof err) != FALCO_OUTPUTS_OK) {
    fprintf(stderr, "slow_calls: %s\n", err);
    return 1;
  }
  falco_alert a = seed_falco_alert();
  uint64_t start = paced_now_ns();
  int slow = 0;
  for (int i = 0; i < n; i++) {
    paced_wait(start, (uint64_t)i, rate);
    a.time_ns = SEED_TIME0_NS + (uint64_t)i * SEED_STEP_NS;
    struct rusage r0, r1;
    getrusage(RUSAGE_THREAD, &r0);
    uint64_t t0 = paced_now_ns();
    falco_outputs_emit(out, &a);
    uint64_t d = paced_now_ns() - t0;
    getrusage(RUSAGE_THREAD, &r1);
    if (d > threshold_ns) {
      slow++;
      printf("call %d at %.1f ms: %.0f us, involuntary switches %ld, page faults %ld\n", i,
             (double)(t0 - start) / 1e6, (double)d / 1e3, r1.ru_nivcsw - r0.ru_nivcsw,
             (r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt));
    }
  }
  printf("%d of %d calls slower than %.0f us\n", slow, n, (double)threshold_ns / 1e3);
  return falco_outputs_close(out, 0) == FALCO_OUTPUTS_OK ? 0 : 1;
}
