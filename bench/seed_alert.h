/* The seed's "Write below binary dir" alert (10 output fields, 3 tags), shared by the library's
 * driver (emit_bench.c) and the peer baseline (falco_baseline.cpp) so both do the same work.
 * Each alert's time advances by SEED_STEP_NS: a loaded engine emits about one alert a
 * microsecond, so the date part changes once a million alerts and the nanoseconds every time. */
#ifndef BENCH_SEED_ALERT_H
#define BENCH_SEED_ALERT_H

#define SEED_TIME0_NS 1507591916000000000ULL
#define SEED_STEP_NS 1000ULL
#define SEED_RULE "Write below binary dir"
#define SEED_SOURCE "syscall"
#define SEED_PRIORITY_NAME "Error"
#define SEED_MESSAGE                                                                       \
  "File below a known binary directory opened for writing (file=/usr/bin/hack "            \
  "pcmdline=bash -c touch /usr/bin/hack gparent=sshd evt_type=openat user=root user_uid=0 " \
  "user_loginuid=1000 process=touch proc_exepath=/usr/bin/touch parent=bash "              \
  "command=touch /usr/bin/hack terminal=34816 container_id=host container_name=host)"
#define SEED_HOSTNAME "falco-bench-host"

/* name, value, is_number */
#define SEED_FIELDS(X)                                  \
  X("container.id", "host", 0)                          \
  X("container.name", "host", 0)                        \
  X("evt.type", "openat", 0)                            \
  X("fd.name", "/usr/bin/hack", 0)                      \
  X("proc.cmdline", "touch /usr/bin/hack", 0)           \
  X("proc.exepath", "/usr/bin/touch", 0)                \
  X("proc.pcmdline", "bash -c touch /usr/bin/hack", 0)  \
  X("proc.pid", "284117", 1)                            \
  X("user.loginuid", "1000", 1)                         \
  X("user.name", "root", 0)

#define SEED_TAGS(X) X("filesystem") X("mitre_persistence") X("T1543")

#endif
