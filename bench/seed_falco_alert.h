/* The seed alert (seed_alert.h) as the library's C ABI takes it, for the drivers that call the
 * library (emit_bench.c, slow_calls.c). */
#ifndef BENCH_SEED_FALCO_ALERT_H
#define BENCH_SEED_FALCO_ALERT_H

#include "falco_outputs.h"
#include "seed_alert.h"

#define SEED_FIELD(n, v, num) {n, v, (num) ? FALCO_FIELD_NUMBER : FALCO_FIELD_STRING},
#define SEED_TAG(t) t,
static const falco_field seed_fields[] = {SEED_FIELDS(SEED_FIELD)};
static const char *const seed_tags[] = {SEED_TAGS(SEED_TAG)};

/* The seed alert, its time left for the caller to set. */
static inline falco_alert seed_falco_alert(void) {
  falco_alert a = {
      .priority = FALCO_PRIORITY_ERROR,
      .rule = SEED_RULE,
      .source = SEED_SOURCE,
      .message = SEED_MESSAGE,
      .fields = seed_fields,
      .fields_len = sizeof seed_fields / sizeof seed_fields[0],
      .tags = seed_tags,
      .tags_len = sizeof seed_tags / sizeof seed_tags[0],
  };
  return a;
}

#endif
