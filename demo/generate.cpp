#include "generate.h"

#include <time.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "signals.h"

namespace demo {
namespace {

// xorshift64*: deterministic variety (same pids and paths on every run), no <random> weight.
struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  template <size_t N>
  const char *pick(const char *const (&items)[N]) {
    return items[next() % N];
  }
};

struct Field {
  std::string name, value;
  int32_t kind;
};

struct Synthetic {
  const char *rule;
  int32_t priority;
  std::string message;
  std::vector<Field> fields;
  std::vector<const char *> tags;
};

std::string num(uint64_t v) { return std::to_string(v); }

const char *const kContainers[][3] = {
    // id, name, image
    {"3ad7b26ded6d", "nginx-7c5ddbdf54-x2k4q", "docker.io/library/nginx"},
    {"8f2d6c1e9b04", "redis-0", "docker.io/library/redis"},
    {"c41a90e7d3f2", "api-gateway-5d9f8b7c6-lm2nq", "ghcr.io/example/api-gateway"},
};
const char *const kShells[] = {"bash", "sh", "zsh"};
const char *const kSensitive[] = {"/etc/shadow", "/etc/sudoers", "/etc/pam.conf",
                                  "/root/.ssh/id_rsa"};
const char *const kReaders[] = {"cat", "less", "python3", "vim"};
const char *const kBinaryDirs[] = {"/bin/hack", "/usr/bin/.x", "/sbin/backdoor",
                                   "/usr/sbin/sshd2"};
const char *const kDropped[] = {"/tmp/xmrig", "/dev/shm/kworker", "/var/tmp/.update"};

Synthetic terminal_shell(uint64_t seq, Rng &rng) {
  const auto &c = kContainers[rng.next() % 3];
  const char *shell = rng.pick(kShells);
  uint64_t pid = 30000 + rng.next() % 20000;
  Synthetic a{"Terminal shell in container", FALCO_PRIORITY_NOTICE, {}, {}, {}};
  a.message = std::string("A shell was spawned in a container with an attached terminal "
                          "(evt_type=execve user=root user_uid=0 user_loginuid=-1 process=") +
              shell + " proc_exepath=/usr/bin/" + shell + " parent=runc command=" + shell +
              " -il terminal=34816 exe_flags=EXE_WRITABLE container_id=" + c[0] +
              " container_name=" + c[1] + ")";
  a.fields = {{"container.id", c[0], FALCO_FIELD_STRING},
              {"container.image.repository", c[2], FALCO_FIELD_STRING},
              {"container.name", c[1], FALCO_FIELD_STRING},
              {"container.privileged", "false", FALCO_FIELD_BOOL},
              {"evt.num", num(seq), FALCO_FIELD_NUMBER},
              {"evt.type", "execve", FALCO_FIELD_STRING},
              {"proc.cmdline", std::string(shell) + " -il", FALCO_FIELD_STRING},
              {"proc.exepath", std::string("/usr/bin/") + shell, FALCO_FIELD_STRING},
              {"proc.name", shell, FALCO_FIELD_STRING},
              {"proc.pid", num(pid), FALCO_FIELD_NUMBER},
              {"proc.pname", "runc", FALCO_FIELD_STRING},
              {"proc.tty", "34816", FALCO_FIELD_NUMBER},
              {"user.loginuid", "-1", FALCO_FIELD_NUMBER},
              {"user.name", "root", FALCO_FIELD_STRING},
              {"user.uid", "0", FALCO_FIELD_NUMBER}};
  a.tags = {"T1059", "container", "maturity_stable", "mitre_execution", "shell"};
  return a;
}

Synthetic write_below_binary_dir(uint64_t seq, Rng &rng) {
  const char *file = rng.pick(kBinaryDirs);
  uint64_t pid = 1000 + rng.next() % 30000;
  Synthetic a{"Write below binary dir", FALCO_PRIORITY_ERROR, {}, {}, {}};
  a.message = std::string("File below a known binary directory opened for writing (user=root "
                          "command=touch ") +
              file + " file=" + file + ")";
  a.fields = {{"container.id", "host", FALCO_FIELD_STRING},
              {"evt.num", num(seq), FALCO_FIELD_NUMBER},
              {"evt.type", "openat", FALCO_FIELD_STRING},
              {"fd.name", file, FALCO_FIELD_STRING},
              {"proc.cmdline", std::string("touch ") + file, FALCO_FIELD_STRING},
              {"proc.pid", num(pid), FALCO_FIELD_NUMBER},
              {"proc.pname", "bash", FALCO_FIELD_STRING},
              {"user.name", "root", FALCO_FIELD_STRING}};
  a.tags = {"T1543", "filesystem", "maturity_stable", "mitre_persistence"};
  return a;
}

Synthetic read_sensitive_file(uint64_t seq, Rng &rng) {
  const char *file = rng.pick(kSensitive);
  const char *reader = rng.pick(kReaders);
  uint64_t pid = 1000 + rng.next() % 30000;
  Synthetic a{"Read sensitive file untrusted", FALCO_PRIORITY_WARNING, {}, {}, {}};
  a.message = std::string("Sensitive file opened for reading by non-trusted program (user=root "
                          "command=") +
              reader + " " + file + " file=" + file + ")";
  a.fields = {{"container.id", "host", FALCO_FIELD_STRING},
              {"evt.num", num(seq), FALCO_FIELD_NUMBER},
              {"evt.type", "openat", FALCO_FIELD_STRING},
              {"fd.name", file, FALCO_FIELD_STRING},
              {"proc.cmdline", std::string(reader) + " " + file, FALCO_FIELD_STRING},
              {"proc.name", reader, FALCO_FIELD_STRING},
              {"proc.pid", num(pid), FALCO_FIELD_NUMBER},
              {"user.name", "root", FALCO_FIELD_STRING}};
  a.tags = {"T1555", "filesystem", "maturity_stable", "mitre_credential_access"};
  return a;
}

Synthetic drop_and_execute(uint64_t seq, Rng &rng) {
  const auto &c = kContainers[rng.next() % 3];
  const char *exe = rng.pick(kDropped);
  Synthetic a{"Drop and execute new binary in container", FALCO_PRIORITY_CRITICAL, {}, {}, {}};
  a.message = std::string("Executing binary not part of base image (proc_exe=") + exe +
              " proc_sname=bash gparent=containerd-shim evt_type=execve user=root user_uid=0 "
              "process=" +
              (std::strrchr(exe, '/') + 1) + " container_id=" + c[0] + " container_name=" + c[1] +
              ")";
  a.fields = {{"container.id", c[0], FALCO_FIELD_STRING},
              {"container.name", c[1], FALCO_FIELD_STRING},
              {"evt.num", num(seq), FALCO_FIELD_NUMBER},
              {"evt.type", "execve", FALCO_FIELD_STRING},
              {"proc.exe", exe, FALCO_FIELD_STRING},
              {"proc.exe_upper_layer", "true", FALCO_FIELD_BOOL},
              {"proc.sname", "bash", FALCO_FIELD_STRING},
              {"user.name", "root", FALCO_FIELD_STRING}};
  a.tags = {"PCI_DSS_11.5.1", "TA0003", "container", "maturity_stable", "mitre_persistence"};
  return a;
}

Synthetic k8s_api_contact(uint64_t seq, Rng &rng) {
  const auto &c = kContainers[rng.next() % 3];
  uint64_t port = 40000 + rng.next() % 20000;
  std::string conn = "10.244.1." + num(2 + rng.next() % 200) + ":" + num(port) + "->10.96.0.1:443";
  Synthetic a{"Contact K8S API Server From Container", FALCO_PRIORITY_NOTICE, {}, {}, {}};
  a.message = "Unexpected connection to K8s API Server from container (connection=" + conn +
              " lport=443 rport=" + num(port) +
              " fd_type=ipv4 fd_proto=tcp evt_type=connect user=root container_id=" + c[0] +
              " container_name=" + c[1] + ")";
  a.fields = {{"container.id", c[0], FALCO_FIELD_STRING},
              {"container.name", c[1], FALCO_FIELD_STRING},
              {"evt.num", num(seq), FALCO_FIELD_NUMBER},
              {"evt.type", "connect", FALCO_FIELD_STRING},
              {"fd.name", conn, FALCO_FIELD_STRING},
              {"fd.rport", "443", FALCO_FIELD_NUMBER},
              {"k8s.ns.name", "", FALCO_FIELD_NULL},  // not resolved: JSON null
              {"user.name", "root", FALCO_FIELD_STRING}};
  a.tags = {"T1565", "container", "k8s", "maturity_stable", "mitre_discovery", "network"};
  return a;
}

Synthetic make(uint64_t seq, Rng &rng) {
  switch (seq % 5) {
    case 0: return terminal_shell(seq, rng);
    case 1: return read_sensitive_file(seq, rng);
    case 2: return write_below_binary_dir(seq, rng);
    case 3: return k8s_api_contact(seq, rng);
    default: return drop_and_execute(seq, rng);
  }
}

uint64_t realtime_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Sleeps until `deadline` (CLOCK_MONOTONIC); false when SIGINT/SIGTERM cut it short.
bool sleep_until(const struct timespec &deadline) {
  for (;;) {
    if (stop_requested()) return false;
    int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr);
    if (rc == 0) return !stop_requested();
    if (rc != EINTR) return false;
  }
}

}  // namespace

void generate(uint64_t count, double rate, OutputsHandle &out, GenerateStats &stats) {
  Rng rng;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  const double start_s = static_cast<double>(start.tv_sec) + start.tv_nsec / 1e9;
  for (uint64_t seq = 1; count == 0 || seq <= count; seq++) {
    if (rate > 0) {
      // Alert seq is due at start + (seq - 1) / rate.
      double due = start_s + static_cast<double>(seq - 1) / rate;
      struct timespec d;
      d.tv_sec = static_cast<time_t>(due);
      d.tv_nsec = static_cast<long>((due - static_cast<double>(d.tv_sec)) * 1e9);
      if (!sleep_until(d)) return;
    } else if (stop_requested()) {
      return;
    }
    Synthetic a = make(seq, rng);
    std::vector<falco_field> fields;
    fields.reserve(a.fields.size());
    for (const auto &f : a.fields)
      fields.push_back({f.name.c_str(), f.kind == FALCO_FIELD_NULL ? nullptr : f.value.c_str(),
                        f.kind});
    out.emit(realtime_ns(), a.priority, a.rule, "syscall", a.message.c_str(), fields, a.tags);
    stats.emitted++;
  }
}

}  // namespace demo
