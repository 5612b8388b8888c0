// Creation data, creation hash and creation ticket shared by CreatePrimary, Create and
// CreateLoaded (Part 3 §12.1, §24.1).
#pragma once

#include <span>

#include "tpm/core/command.h"

namespace utpm::tpm {

// Derives a primary object of `hierarchy` into a free slot (see hierarchy.cc).
TPM_RC derive_primary(Command& c, TPM_HANDLE hierarchy, const TPMS_SENSITIVE_CREATE& sens, const TPMT_PUBLIC& tmpl,
                      ObjectSlot*& out);

// The checks of a creation template and its sensitive data (Create, CreatePrimary,
// CreateLoaded), numbered: inSensitive is parameter 1, inPublic parameter 2.
TPM_RC creation_checks(const TPMT_PUBLIC& tmpl, const TPMS_SENSITIVE_CREATE& sens, const ObjectSlot* parent);

// Writes creationData (TPM2B_CREATION_DATA), creationHash and creationTicket for the object.
void write_creation(Command& c, const ObjectSlot& obj, TPM_ALG_ID parent_name_alg,
                    std::span<const uint8_t> parent_name, std::span<const uint8_t> parent_qn,
                    const TPM2B_DATA& outside_info, const TPML_PCR_SELECTION& creation_pcr);

}  // namespace utpm::tpm
