/* What contract_client.inc measures about the API's types, in plain C types, so a file compiled
 * against the contract and one compiled against the real header can be compared at run time. */
#ifndef FALCO_OUTPUTS_CONTRACT_LAYOUT_H
#define FALCO_OUTPUTS_CONTRACT_LAYOUT_H

#include <stddef.h>

#define FO_LAYOUT_MAX 96

typedef struct fo_layout {
  size_t n;
  const char *name[FO_LAYOUT_MAX];
  long long value[FO_LAYOUT_MAX];
} fo_layout;

static inline void fo_layout_add(fo_layout *l, const char *name, long long value) {
  if (l->n < FO_LAYOUT_MAX) {
    l->name[l->n] = name;
    l->value[l->n] = value;
    l->n++;
  }
}

void fo_layout_contract(fo_layout *l);
void fo_layout_header(fo_layout *l);
int fo_run_contract(const char *path);
int fo_run_header(const char *path);

#endif
