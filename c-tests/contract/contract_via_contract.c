/* contract_client.inc compiled against the contract (shared/design/falco_outputs_contract.h,
 * copied here; scripts/test checks the copy is current). */
#include "falco_outputs_contract.h"
#define FO_SUFFIX(name) name##_contract
#include "contract_client.inc"
