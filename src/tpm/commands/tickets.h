// Tickets shared by the hash and sequence commands.
#pragma once

#include <span>

#include "tpm/state.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

// True if data begins with TPM_GENERATED_VALUE, the marker of TPM-made structures.
bool starts_with_generated_value(std::span<const uint8_t> data);
// The TPMT_TK_HASHCHECK for digest; the NULL ticket when hierarchy is TPM_RH_NULL.
TPMT_TK_HASHCHECK hashcheck_ticket(const State& st, TPM_HANDLE hierarchy, TPM_ALG_ID hash_alg,
                                   std::span<const uint8_t> digest);

}  // namespace utpm::tpm
