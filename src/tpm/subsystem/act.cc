// Authenticated Countdown Timers (Part 1 "Authenticated Countdown Timer", Part 3 ACT_SetTimeout).
// An ACT counts down whole seconds of the platform timer; nothing ticks: its remaining time is
// computed when asked, from the value last set and when it was set. There is no signal pin:
// the "signal" is TPMA_ACT.signaled in GetCapability(TPM_CAP_ACT) (docs/engine.md).
#include "crypto/crypto.h"
#include "tpm/marshal/marshal.h"
#include "tpm/platform.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

constexpr uint32_t kHeld = 0xFFFFFFFF;
constexpr uint16_t kTagAct = 0x5554;  // "UT"

}  // namespace

uint32_t act_remaining(Tpm& tpm, unsigned i) {
  const State::Act& a = tpm.state().act[i];
  if (a.timeout == 0 || a.timeout == kHeld) return a.timeout;
  const uint64_t elapsed = (tpm.platform().now_ms() - a.base_ms) / 1000;
  return elapsed < a.timeout ? static_cast<uint32_t>(a.timeout - elapsed) : 0;
}

bool act_signaled(Tpm& tpm, unsigned i) {
  const State::Act& a = tpm.state().act[i];
  if (act_remaining(tpm, i) != 0) return false;
  // At zero: signaled if it counted down to zero, or was set to zero while running.
  return a.signaled || (a.timeout != 0 && a.timeout != kHeld);
}

void act_set(Tpm& tpm, unsigned i, uint32_t start_timeout) {
  State& st = tpm.state();
  State::Act& a = st.act[i];
  const bool was_running = act_remaining(tpm, i) != 0;
  const bool was_signaled = act_signaled(tpm, i);
  if (start_timeout == 0) {
    // Stops the countdown: a running ACT signals at once, a stopped one keeps its signal.
    a.signaled = was_running || was_signaled;
  } else {
    a.signaled = false;  // a non-zero count (or UINT32_MAX) turns the signal off
  }
  a.timeout = start_timeout;
  a.base_ms = tpm.platform().now_ms();
  st.act_updated = static_cast<uint16_t>(st.act_updated | 1u << i);
  st.act_preserve = static_cast<uint16_t>(st.act_preserve & ~(1u << i));
}

TPMS_ACT_DATA act_data(Tpm& tpm, unsigned i) {
  TPMS_ACT_DATA d;
  d.handle.value = TPM_RH_ACT_0 + i;
  d.timeout = act_remaining(tpm, i);
  d.attributes = (act_signaled(tpm, i) ? TPMA_ACT_signaled : 0) |
                 ((tpm.state().act_preserve >> i & 1) ? TPMA_ACT_preserveSignaled : 0);
  return d;
}

// Record kRecAct 'UT' v1: u8 n, n x {u32 remaining, u8 signaled, TPMT_HA authPolicy}.
TPM_RC act_save(Tpm& tpm) {
  State& st = tpm.state();
  uint8_t buf[2 + 2 + 1 + profile::kNumActs * (4 + 1 + 2 + profile::kMaxDigestSize)];
  Writer w(buf);
  w.u16(kTagAct);
  w.u16(1);
  w.u8(static_cast<uint8_t>(profile::kNumActs));
  for (unsigned i = 0; i < profile::kNumActs; ++i) {
    uint32_t remaining = act_remaining(tpm, i);
    // An ACT not set since the Startup is saved with half its time, so that saving the state
    // early and resuming cannot stretch a countdown (the reference TPM's rule).
    if (!(st.act_updated >> i & 1) && remaining != kHeld && remaining > 1) remaining /= 2;
    w.u32(remaining);
    w.u8(act_signaled(tpm, i) ? 1 : 0);
    marshal(w, st.act[i].policy);
  }
  return w.overflow() ? TPM_RC_FAILURE : persist_stage(tpm, kRecAct, w);
}

void act_startup(Tpm& tpm, bool resume, bool after_state_save) {
  State& st = tpm.state();
  const uint64_t now = tpm.platform().now_ms();
  for (State::Act& a : st.act) a = State::Act{};
  st.act_updated = 0;
  st.act_preserve = 0;
  // The record is read whatever the Startup: a signal saved by Shutdown(STATE) sets
  // preserveSignaled (the reference TPM carries it over Restart too); only Resume restores the
  // countdowns, the signals and the policies. A missing or malformed record: all stopped.
  uint8_t buf[2 + 2 + 1 + profile::kNumActs * (4 + 1 + 2 + profile::kMaxDigestSize)];
  size_t len = 0;
  if (!after_state_save || tpm.platform().nv().read(kRecAct, buf, len) != NvStore::Result::ok) return;
  Reader r({buf, len});
  uint16_t tag = 0, version = 0;
  uint8_t n = 0;
  if (!r.u16(tag) || !r.u16(version) || tag != kTagAct || version != 1 || !r.u8(n) || n != profile::kNumActs) return;
  State::Act saved[profile::kNumActs];
  uint16_t signaled = 0;
  for (unsigned i = 0; i < profile::kNumActs; ++i) {
    uint8_t s = 0;
    if (!r.u32(saved[i].timeout) || !r.u8(s) || s > 1 || unmarshal(r, saved[i].policy) != TPM_RC_SUCCESS) return;
    saved[i].base_ms = now;
    saved[i].signaled = s != 0;
    if (s) signaled = static_cast<uint16_t>(signaled | 1u << i);
  }
  if (r.remaining() != 0) return;
  st.act_preserve = signaled;
  if (resume)
    for (unsigned i = 0; i < profile::kNumActs; ++i) st.act[i] = saved[i];
}

}  // namespace utpm::tpm
