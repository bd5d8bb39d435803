/* contract_client.inc compiled against the generated header, unchanged. */
#include "falco_outputs.h"
#define FO_SUFFIX(name) name##_header
#include "contract_client.inc"
