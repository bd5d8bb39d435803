#include "outputs_handle.h"

#include <cstdio>
#include <string>

#include "signals.h"

namespace demo {

const char *const kBuiltinConfig = "stdout_output: {enabled: true}\n";

namespace {
// Bounded: a hung channel must not hold a stopping host for long; close then applies
// output_timeout and counts whatever it had to discard.
constexpr uint32_t kFlushTimeoutMs = 5000;
}

OutputsHandle::~OutputsHandle() {
  if (h_) {
    set_reopen_target(nullptr);
    falco_outputs_close(h_, 0);
  }
}

bool OutputsHandle::open(const OutputsConfig &config, std::string &error) {
  std::vector<const char *> overrides;
  for (const auto &o : config.overrides) overrides.push_back(o.c_str());
  falco_outputs_options opts{};
  if (config.config_path.empty()) {
    opts.config_yaml = kBuiltinConfig;
  } else {
    opts.config_path = config.config_path.c_str();
  }
  opts.overrides = overrides.data();
  opts.overrides_len = overrides.size();
  opts.hostname = config.hostname.empty() ? nullptr : config.hostname.c_str();
  char err[1024] = "";
  falco_outputs_result rc = falco_outputs_init(&opts, &h_, err, sizeof err);
  if (rc != FALCO_OUTPUTS_OK) {
    error = err[0] ? err : falco_outputs_result_str(rc);
    h_ = nullptr;
    return false;
  }
  set_reopen_target(h_);
  return true;
}

void OutputsHandle::report(falco_outputs_result rc) {
  if (rc == FALCO_OUTPUTS_OK) return;
  // One line for the first refusal, then every 1000th: the library counts them all anyway.
  if (refused_++ % 1000 == 0)
    std::fprintf(stderr, "falco-outputs-demo: emit: %s (%llu so far)\n",
                 falco_outputs_result_str(rc), static_cast<unsigned long long>(refused_));
}

void OutputsHandle::emit(const ParsedAlert &a) {
  std::vector<falco_field> fields;
  fields.reserve(a.fields.size());
  for (const auto &f : a.fields) {
    fields.push_back({f.name.c_str(), f.kind == FALCO_FIELD_NULL ? nullptr : f.value.c_str(),
                      f.kind});
  }
  if (a.internal) {
    report(falco_outputs_emit_msg(h_, a.time_ns, a.priority, a.rule.c_str(), a.message.c_str(),
                                  fields.data(), fields.size()));
    return;
  }
  std::vector<const char *> tags;
  tags.reserve(a.tags.size());
  for (const auto &t : a.tags) tags.push_back(t.c_str());
  emit(a.time_ns, a.priority, a.rule.c_str(), a.has_source ? a.source.c_str() : nullptr,
       a.message.c_str(), fields, tags);
}

void OutputsHandle::emit(uint64_t time_ns, int32_t priority, const char *rule,
                         const char *source, const char *message,
                         const std::vector<falco_field> &fields,
                         const std::vector<const char *> &tags) {
  falco_alert alert{};
  alert.time_ns = time_ns;
  alert.priority = priority;
  alert.rule = rule;
  alert.source = source;
  alert.message = message;
  alert.fields = fields.data();
  alert.fields_len = fields.size();
  alert.tags = tags.data();
  alert.tags_len = tags.size();
  report(falco_outputs_emit(h_, &alert));
}

bool OutputsHandle::shutdown(const std::string &summary) {
  if (!h_) return true;
  // No reopen may reach a handle being freed.
  set_reopen_target(nullptr);
  falco_outputs_result flushed = falco_outputs_flush(h_, kFlushTimeoutMs);
  std::string stats(4096, '\0');
  size_t need = falco_outputs_stats_json(h_, stats.data(), stats.size());
  if (need >= stats.size()) {
    stats.resize(need + 1);
    need = falco_outputs_stats_json(h_, stats.data(), stats.size());
  }
  stats.resize(need);
  falco_outputs_result closed = falco_outputs_close(h_, 0);
  h_ = nullptr;
  std::fprintf(stderr, "falco-outputs-demo: %s\n", summary.c_str());
  std::fprintf(stderr, "falco-outputs-demo: stats %s\n", stats.c_str());
  if (flushed != FALCO_OUTPUTS_OK)
    std::fprintf(stderr, "falco-outputs-demo: flush: %s\n", falco_outputs_result_str(flushed));
  if (closed != FALCO_OUTPUTS_OK) {
    std::fprintf(stderr, "falco-outputs-demo: close: %s (see the stats above)\n",
                 falco_outputs_result_str(closed));
    return false;
  }
  return true;
}

}  // namespace demo
