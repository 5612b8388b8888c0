// Part 3 chapter 9: Start-up. TPM2_Startup turns _TPM_Init into one of TPM Reset, TPM Restart
// or TPM Resume depending on how the TPM was shut down (Part 1 §12.2.3); TPM2_Shutdown
// records how, saving volatile state for a later Resume.
#include "tpm/commands/commands.h"
#include "tpm/subsystem/nv.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_Startup(Command& c) {
  TPM_SU_CHECKED type;
  if (TPM_RC rc = c.parse(type)) return rc;
  State& st = c.st;
  if (st.phase == Phase::operational) return TPM_RC_INITIALIZE;

  const TPM_SU previous = st.clock.orderly;
  const bool resume = type == TPM_SU_STATE;
  if (resume) {
    // The saved PCR 0 cannot hold an H-CRTM measurement made since: Part 3 §9.3 gives
    // TPM_RC_LOCALITY when Startup(STATE) does not have the previous Startup's H-CRTM state
    // (the saved state records none, so any pre-Startup H-CRTM differs).
    if (st.hcrtm_pre_startup) return TPM_RC_LOCALITY;
    // Resume needs a Shutdown(STATE) whose saved state is still valid.
    if (previous != TPM_SU_STATE || !persist_restore_state(c.tpm)) return rc_param(TPM_RC_VALUE, 1);
  }

  objects_flush_all(st);
  if (previous == TPM_SU_STATE) {
    // TPM Restart (CLEAR) or TPM Resume (STATE): the reset epoch continues.
    ++st.clock.restart_count;
  } else {
    // TPM Reset.
    ++st.clock.reset_count;
    st.clock.restart_count = 0;
    ++st.pers.total_reset_count;
    st.pcr.update_counter = 0;
    st.clock.commit_counter = 0;
    st.dirty |= kDirtyPersistent;
  }
  // The null hierarchy never outlives a Startup: its seed and proof are new every time (the
  // saved state does not carry them, so nothing made under the old ones can come back).
  if (!tpm_random(c.tpm, st.null_seed) || !tpm_random(c.tpm, st.null_proof)) return TPM_RC_FAILURE;
  // ECC commits: a fresh nonce and no outstanding commit after any Startup (the counter goes on
  // over Restart/Resume), so a commit value r can never be derived twice.
  if (!tpm_random(c.tpm, st.commit.nonce)) return TPM_RC_FAILURE;
  crypto::zeroize(st.commit.array, sizeof st.commit.array);
  if (!resume) {
    st.platform_auth = TPM2B_AUTH{};
    st.pcr_auth = TPM2B_AUTH{};
    st.ph_enable = st.sh_enable = st.eh_enable = st.ph_enable_nv = 1;
    st.read_only = 0;  // TPM Reset and Restart end Read-Only mode; Resume keeps the saved one
    // A PCR_Allocate since takes effect now (Part 3 §22.5: at the next Startup(CLEAR)).
    if (st.pers.pcr_pending != st.pers.pcr_active) {
      st.pers.pcr_active = st.pers.pcr_pending;
      st.dirty |= kDirtyPersistent;
      pcr_apply_allocation(st);
    }
  }
  pcr_startup(st, c.locality, resume);
  act_startup(c.tpm, resume, previous == TPM_SU_STATE);
  da_startup(c.tpm, previous != kOrderlyNone);
  nv_startup(st, resume);  // TPM Reset/Restart: NV indices' stClear locks end
  // The command-audit digest and the exclusive audit session do not survive a Startup (a
  // restarted digest counts a new auditCounter value, so a verifier sees the break).
  st.audit.digest.size = 0;
  st.audit.exclusive_session = 0;
  // After a non-orderly shutdown orderly counters jump past what RAM may have held.
  if (previous == kOrderlyNone)
    if (TPM_RC rc = nv_orderly_recover(c.tpm)) return rc;
  // Context sequence numbers never repeat under one proof: the high half names this Startup
  // (reset epoch and restart within it), the low half counts saves.
  st.context_counter = (st.pers.total_reset_count << 52) | (uint64_t{st.clock.restart_count} << 32);
  // Session contexts are sealed with the null proof, new above, so their counter (and the gap
  // it measures) starts again: no saved session outlives a Startup here (docs/engine.md).
  st.session_counter = 0;
  st.startup_orderly = previous != kOrderlyNone;

  // From now on, losing power without a Shutdown is a non-orderly shutdown.
  st.clock.orderly = kOrderlyNone;
  st.dirty |= kDirtyClock;
  persist_drop_saved_state(c.tpm);
  st.shutdown_seen = false;
  st.phase = Phase::operational;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_Shutdown(Command& c) {
  TPM_SU_CHECKED type;
  if (TPM_RC rc = c.parse(type)) return rc;
  State& st = c.st;
  // After a PCR_Allocate the banks change at the next Startup: their state cannot be saved for
  // a Resume (Part 3 §9.4: TPM_RC_TYPE, "a CLEAR StateSave is required").
  if (type == TPM_SU_STATE && st.pers.pcr_pending != st.pers.pcr_active) return rc_param(TPM_RC_TYPE, 1);
  // Orderly indices reach the store in the transaction that records the orderly shutdown.
  if (TPM_RC rc = nv_orderly_flush(c.tpm)) return rc;
  if (type == TPM_SU_STATE) {
    if (TPM_RC rc = persist_save_state(c.tpm)) return rc;
    if (TPM_RC rc = act_save(c.tpm)) return rc;
  } else {
    persist_drop_saved_state(c.tpm);
  }
  st.clock.clock = clock_now(c.tpm);  // an orderly shutdown stores Clock exactly
  st.clock.orderly = type;
  st.clock.da_used = 0;  // an orderly shutdown: every failure is on record
  st.dirty |= kDirtyClock;
  st.shutdown_seen = true;
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
