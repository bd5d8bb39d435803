/* The generated header keeps the contract (shared/design/falco_outputs_contract.h):
 * 1. at compile time, every name of the contract exists with its value or exact C type (a rename
 *    or a type change breaks the build): constants, struct fields, typedefs, function signatures;
 * 2. at run time, the same client code compiled once against the contract and once against the
 *    generated header (contract/contract_client.inc) sees the same sizes, offsets and constants,
 *    and both copies run against the real library and write the same lines. */
#include "falco_outputs.h"

#include <stdalign.h>

#include "contract/contract_layout.h"
#include "test_util.h"

#define SAME_TYPE(expr, T) _Generic((expr), T: 1, default: 0)
#define FIELD_TYPE(S, f, T) \
  _Static_assert(SAME_TYPE(((S *)0)->f, T), #S "." #f " has the contract's type " #T)

/* Constants: values. */
_Static_assert(FALCO_PRIORITY_EMERGENCY == 0, "FALCO_PRIORITY_EMERGENCY");
_Static_assert(FALCO_PRIORITY_ALERT == 1, "FALCO_PRIORITY_ALERT");
_Static_assert(FALCO_PRIORITY_CRITICAL == 2, "FALCO_PRIORITY_CRITICAL");
_Static_assert(FALCO_PRIORITY_ERROR == 3, "FALCO_PRIORITY_ERROR");
_Static_assert(FALCO_PRIORITY_WARNING == 4, "FALCO_PRIORITY_WARNING");
_Static_assert(FALCO_PRIORITY_NOTICE == 5, "FALCO_PRIORITY_NOTICE");
_Static_assert(FALCO_PRIORITY_INFORMATIONAL == 6, "FALCO_PRIORITY_INFORMATIONAL");
_Static_assert(FALCO_PRIORITY_DEBUG == 7, "FALCO_PRIORITY_DEBUG");
_Static_assert(FALCO_FIELD_STRING == 0, "FALCO_FIELD_STRING");
_Static_assert(FALCO_FIELD_NUMBER == 1, "FALCO_FIELD_NUMBER");
_Static_assert(FALCO_FIELD_BOOL == 2, "FALCO_FIELD_BOOL");
_Static_assert(FALCO_FIELD_NULL == 3, "FALCO_FIELD_NULL");
_Static_assert(FALCO_FIELD_JSON == 4, "FALCO_FIELD_JSON");
_Static_assert(FALCO_OUTPUTS_OK == 0, "FALCO_OUTPUTS_OK");
_Static_assert(FALCO_OUTPUTS_ERR_NULL_ARGUMENT == 1, "FALCO_OUTPUTS_ERR_NULL_ARGUMENT");
_Static_assert(FALCO_OUTPUTS_ERR_INVALID_ARGUMENT == 2, "FALCO_OUTPUTS_ERR_INVALID_ARGUMENT");
_Static_assert(FALCO_OUTPUTS_ERR_CONFIG == 3, "FALCO_OUTPUTS_ERR_CONFIG");
_Static_assert(FALCO_OUTPUTS_ERR_QUEUE_FULL == 4, "FALCO_OUTPUTS_ERR_QUEUE_FULL");
_Static_assert(FALCO_OUTPUTS_ERR_CLOSED == 5, "FALCO_OUTPUTS_ERR_CLOSED");
_Static_assert(FALCO_OUTPUTS_ERR_TIMEOUT == 6, "FALCO_OUTPUTS_ERR_TIMEOUT");
_Static_assert(FALCO_OUTPUTS_ERR_IO == 7, "FALCO_OUTPUTS_ERR_IO");
_Static_assert(FALCO_OUTPUTS_ERR_INTERNAL == 8, "FALCO_OUTPUTS_ERR_INTERNAL");

/* The result type is an enum type in the contract: usable as one, 4 bytes like int. */
_Static_assert(sizeof(falco_outputs_result) == sizeof(int), "falco_outputs_result is int-sized");

/* Struct fields: exact types. */
FIELD_TYPE(falco_field, name, const char *);
FIELD_TYPE(falco_field, value, const char *);
FIELD_TYPE(falco_field, kind, int32_t);

FIELD_TYPE(falco_alert, time_ns, uint64_t);
FIELD_TYPE(falco_alert, priority, int32_t);
FIELD_TYPE(falco_alert, rule, const char *);
FIELD_TYPE(falco_alert, source, const char *);
FIELD_TYPE(falco_alert, message, const char *);
FIELD_TYPE(falco_alert, fields, const falco_field *);
FIELD_TYPE(falco_alert, fields_len, size_t);
FIELD_TYPE(falco_alert, tags, const char *const *);
FIELD_TYPE(falco_alert, tags_len, size_t);

FIELD_TYPE(falco_outputs_options, config_path, const char *);
FIELD_TYPE(falco_outputs_options, config_yaml, const char *);
FIELD_TYPE(falco_outputs_options, overrides, const char *const *);
FIELD_TYPE(falco_outputs_options, overrides_len, size_t);
FIELD_TYPE(falco_outputs_options, hostname, const char *);
FIELD_TYPE(falco_outputs_options, log_fn, falco_outputs_log_fn);
FIELD_TYPE(falco_outputs_options, log_userdata, void *);

FIELD_TYPE(falco_outputs_stats, accepted, uint64_t);
FIELD_TYPE(falco_outputs_stats, dropped, uint64_t);
FIELD_TYPE(falco_outputs_stats, delivered, uint64_t);
FIELD_TYPE(falco_outputs_stats, failed, uint64_t);
FIELD_TYPE(falco_outputs_stats, filtered, uint64_t);
FIELD_TYPE(falco_outputs_stats, pending, uint64_t);

/* Typedefs. */
_Static_assert(SAME_TYPE((falco_outputs_log_fn)0, void (*)(void *, int32_t, const char *)),
               "falco_outputs_log_fn");
_Static_assert(SAME_TYPE((struct falco_field *)0, falco_field *), "struct falco_field tag");
_Static_assert(SAME_TYPE((struct falco_alert *)0, falco_alert *), "struct falco_alert tag");
_Static_assert(SAME_TYPE((struct falco_outputs_options *)0, falco_outputs_options *),
               "struct falco_outputs_options tag");
_Static_assert(SAME_TYPE((struct falco_outputs_stats *)0, falco_outputs_stats *),
               "struct falco_outputs_stats tag");
_Static_assert(SAME_TYPE((struct falco_outputs *)0, falco_outputs *), "struct falco_outputs tag");

/* Functions: exact signatures. */
_Static_assert(SAME_TYPE(&falco_outputs_init,
                         falco_outputs_result (*)(const falco_outputs_options *,
                                                  falco_outputs **, char *, size_t)),
               "falco_outputs_init");
_Static_assert(SAME_TYPE(&falco_outputs_emit,
                         falco_outputs_result (*)(falco_outputs *, const falco_alert *)),
               "falco_outputs_emit");
_Static_assert(SAME_TYPE(&falco_outputs_emit_msg,
                         falco_outputs_result (*)(falco_outputs *, uint64_t, int32_t,
                                                  const char *, const char *,
                                                  const falco_field *, size_t)),
               "falco_outputs_emit_msg");
_Static_assert(SAME_TYPE(&falco_outputs_reopen, void (*)(falco_outputs *)),
               "falco_outputs_reopen");
_Static_assert(SAME_TYPE(&falco_outputs_flush, falco_outputs_result (*)(falco_outputs *, uint32_t)),
               "falco_outputs_flush");
_Static_assert(SAME_TYPE(&falco_outputs_get_stats,
                         falco_outputs_result (*)(const falco_outputs *, falco_outputs_stats *)),
               "falco_outputs_get_stats");
_Static_assert(SAME_TYPE(&falco_outputs_stats_json,
                         size_t (*)(const falco_outputs *, char *, size_t)),
               "falco_outputs_stats_json");
_Static_assert(SAME_TYPE(&falco_outputs_close, falco_outputs_result (*)(falco_outputs *, uint32_t)),
               "falco_outputs_close");
_Static_assert(SAME_TYPE(&falco_outputs_result_str, const char *(*)(falco_outputs_result)),
               "falco_outputs_result_str");
_Static_assert(SAME_TYPE(&falco_outputs_version, const char *(*)(void)), "falco_outputs_version");

/* A zeroed falco_field is a STRING (the contract says so). */
static void check_zeroed_field(void) {
  falco_field f;
  memset(&f, 0, sizeof f);
  CHECK(f.kind == FALCO_FIELD_STRING);
}

static void check_layouts(void) {
  static fo_layout c, h;
  fo_layout_contract(&c);
  fo_layout_header(&h);
  CHECK_MSG(c.n == h.n && c.n > 50, "%zu vs %zu entries", c.n, h.n);
  for (size_t i = 0; i < c.n && i < h.n; i++) {
    CHECK_MSG(strcmp(c.name[i], h.name[i]) == 0 && c.value[i] == h.value[i],
              "%s: contract %lld, header %lld", c.name[i], c.value[i], h.value[i]);
  }
}

static void check_runs(const char *dir) {
  char *via_contract = tu_path(dir, "contract.txt");
  char *via_header = tu_path(dir, "header.txt");
  setenv("TZ", "UTC", 1);
  CHECK_MSG(fo_run_contract(via_contract) == 0, "client compiled against the contract");
  CHECK_MSG(fo_run_header(via_header) == 0, "client compiled against the header");
  size_t la, lb;
  char *a = tu_read_file(via_contract, &la);
  char *b = tu_read_file(via_header, &lb);
  const char *want =
      "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)\n"
      "2016-08-04T16:17:57.881781397+0000: Informational hello\n";
  CHECK_STREQ(a, want);
  CHECK_STREQ(b, want);
  free(a);
  free(b);
  free(via_contract);
  free(via_header);
}

int main(void) {
  check_zeroed_field();
  check_layouts();
  char *dir = tu_tmpdir("contract");
  check_runs(dir);
  tu_rmdir(dir);
  free(dir);
  return tu_finish("test_contract_names");
}
