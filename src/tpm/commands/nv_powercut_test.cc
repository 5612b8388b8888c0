// NV indices under power loss: the engine on the real secure store (src/storage) over SimFlash,
// with power cut at every program/erase step (cleanly and torn) of an NV_Write / NV_Increment /
// NV_Extend / NV_UndefineSpace workload. After each cut the board reboots and the TPM starts
// (TPM Reset): every index must hold the state after the last acknowledged command or after
// the interrupted one - never a mix of the two (an NV_Write of the whole index is atomic) - and
// a counter never goes back.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "storage/store_test_util.h"
#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"
#include "tpm/types/nv.h"

namespace utpm::tpm {
namespace {

using storage::StoreResult;
using testing::CommandBuilder;
using testing::Response;
using testing::run;
using Bytes = std::vector<uint8_t>;

// The engine's NvStore on a storage::SecureStore (as host::SecureNvStore, without files).
class StoreNv final : public NvStore {
 public:
  explicit StoreNv(storage::test::Board& b) : board_(b) {}
  Result read(uint32_t id, std::span<uint8_t> out, size_t& len) override { return map(board_.store().read(id, out, len)); }
  Result write(uint32_t id, std::span<const uint8_t> data) override { return map(board_.store().write(id, data)); }
  Result remove(uint32_t id) override { return map(board_.store().remove(id)); }
  Result commit() override { return map(board_.store().commit()); }
  void abort() override { board_.store().abort(); }

 private:
  static Result map(StoreResult r) {
    switch (r) {
      case StoreResult::ok: return Result::ok;
      case StoreResult::not_found: return Result::not_found;
      case StoreResult::too_large: return Result::too_large;
      case StoreResult::no_space: return Result::no_space;
      case StoreResult::integrity_error: return Result::integrity_error;
      default: return Result::io_error;
    }
  }
  storage::test::Board& board_;
};

class CutPlatform : public testing::FakePlatform {
 public:
  explicit CutPlatform(storage::test::Board& b) : nvs(b) {}
  NvStore& nv() override { return nvs; }
  StoreNv nvs;
};

constexpr TPM_HANDLE kData = 0x01500000, kCounter = 0x01500001, kExtend = 0x01500002;
constexpr uint16_t kDataSize = 300;
constexpr uint32_t kOwnerRW = TPMA_NV::OWNERREAD | TPMA_NV::OWNERWRITE;

Bytes sha256(const Bytes& in) {
  Bytes out(32);
  unsigned n = 0;
  EVP_Digest(in.data(), in.size(), out.data(), &n, EVP_sha256(), nullptr);
  return out;
}
Bytes fill(uint8_t seed, size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed * 31 + i * 7);
  return b;
}

// What the three indices hold.
struct Model {
  std::optional<Bytes> data;     // kData contents (unset: never written)
  uint64_t counter = 0;          // 0: never incremented
  std::optional<Bytes> extend;   // kExtend value; unset: never extended
  bool extend_defined = true;
  bool operator==(const Model&) const = default;
};

struct Op {
  enum Kind { write, increment, extend, undefine } kind;
  uint8_t seed = 0;
  uint16_t offset = 0;
  uint16_t size = 0;
};

std::vector<Op> workload() {
  return {{Op::write, 1, 0, kDataSize}, {Op::increment}, {Op::extend, 2},
          {Op::write, 3, 0, kDataSize}, {Op::increment}, {Op::write, 4, 100, 120},
          {Op::extend, 5},              {Op::increment}, {Op::write, 6, 0, kDataSize},
          {Op::undefine}};
}

Model apply(Model m, const Op& op) {
  switch (op.kind) {
    case Op::write: {
      if (!m.data) m.data = Bytes(kDataSize, 0xFF);
      Bytes d = fill(op.seed, op.size);
      std::copy(d.begin(), d.end(), m.data->begin() + op.offset);
      break;
    }
    case Op::increment: ++m.counter; break;
    case Op::extend: {
      Bytes in = m.extend ? *m.extend : Bytes(32, 0);
      Bytes d = fill(op.seed, 40);
      in.insert(in.end(), d.begin(), d.end());
      m.extend = sha256(in);
      break;
    }
    case Op::undefine: m.extend_defined = false; m.extend.reset(); break;
  }
  return m;
}

uint32_t execute(Tpm& tpm, const Op& op) {
  switch (op.kind) {
    case Op::write:
      return run(tpm, CommandBuilder(0x8002, TPM_CC_NV_Write).u32(TPM_RH_OWNER).u32(kData).pw_session()
                          .tpm2b(fill(op.seed, op.size)).u16(op.offset).bytes()).rc;
    case Op::increment:
      return run(tpm, CommandBuilder(0x8002, TPM_CC_NV_Increment).u32(TPM_RH_OWNER).u32(kCounter).pw_session().bytes()).rc;
    case Op::extend:
      return run(tpm, CommandBuilder(0x8002, TPM_CC_NV_Extend).u32(TPM_RH_OWNER).u32(kExtend).pw_session()
                          .tpm2b(fill(op.seed, 40)).bytes()).rc;
    case Op::undefine:
      return run(tpm, CommandBuilder(0x8002, TPM_CC_NV_UndefineSpace).u32(TPM_RH_OWNER).u32(kExtend).pw_session().bytes()).rc;
  }
  return 1;
}

uint32_t define(Tpm& tpm, TPM_HANDLE h, uint32_t attrs, uint16_t size) {
  Bytes pub = {uint8_t(h >> 24), uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h), 0x00, 0x0B,
               uint8_t(attrs >> 24), uint8_t(attrs >> 16), uint8_t(attrs >> 8), uint8_t(attrs), 0, 0,
               uint8_t(size >> 8), uint8_t(size)};
  return run(tpm, CommandBuilder(0x8002, TPM_CC_NV_DefineSpace).u32(TPM_RH_OWNER).pw_session().u16(0).tpm2b(pub).bytes()).rc;
}

// Reads the model back from the TPM.
bool observe(Tpm& tpm, Model& m, std::string& why) {
  auto read = [&](TPM_HANDLE h, uint16_t size, std::optional<Bytes>& out) {
    Response r = run(tpm, CommandBuilder(0x8002, TPM_CC_NV_Read).u32(TPM_RH_OWNER).u32(h).pw_session().u16(size).u16(0).bytes());
    if (r.rc == TPM_RC_NV_UNINITIALIZED) {
      out.reset();
      return true;
    }
    if (r.rc != 0) {
      why = "NV_Read of " + std::to_string(h) + ": rc " + std::to_string(r.rc);
      return false;
    }
    r.u32();
    out = r.tpm2b();
    return true;
  };
  std::optional<Bytes> counter;
  if (!read(kData, kDataSize, m.data) || !read(kCounter, 8, counter)) return false;
  m.counter = 0;
  if (counter)
    for (uint8_t b : *counter) m.counter = m.counter << 8 | b;
  Response p = run(tpm, CommandBuilder(0x8001, TPM_CC_NV_ReadPublic).u32(kExtend).bytes());
  m.extend_defined = p.rc == 0;
  m.extend.reset();
  if (m.extend_defined && !read(kExtend, 32, m.extend)) return false;
  if (!m.extend_defined && p.rc != rc_handle(TPM_RC_HANDLE, 1)) {
    why = "NV_ReadPublic of the extend index: rc " + std::to_string(p.rc);
    return false;
  }
  return true;
}

constexpr storage::FlashGeometry kGeo{2048, 16, 8};
constexpr storage::StoreConfig kCfg{1, 1024};

// Sets up a fresh TPM with the three indices, then runs the workload with power cut at `step`
// (counted from the start of the workload). total: set to the workload's step count instead.
bool cut_and_check(uint64_t step, bool torn, std::string& why, uint64_t* total = nullptr) {
  storage::test::Board board(kGeo, kCfg, 64, 32);
  board.rail.seed(step * 2 + torn + 1);
  if (board.format() != storage::MountCause::ok) return why = "format", false;
  CutPlatform platform(board);
  auto tpm = std::make_unique<Tpm>(platform);
  testing::start(*tpm);
  if (define(*tpm, kData, kOwnerRW, kDataSize) || define(*tpm, kCounter, kOwnerRW | (TPM_NT_COUNTER << 4), 8) ||
      define(*tpm, kExtend, kOwnerRW | (TPM_NT_EXTEND << 4), 32))
    return why = "define", false;

  board.rail.reset_steps();
  if (!total) board.rail.arm(step, torn);
  Model acked;
  std::optional<Model> in_flight;
  for (const Op& op : workload()) {
    const Model next = apply(acked, op);
    if (execute(*tpm, op) != 0) {
      if (!board.rail.lost()) return why = "a command failed without a power cut", false;
      in_flight = next;
      break;
    }
    acked = next;
  }
  if (total) {
    *total = board.rail.steps();
    return true;
  }
  if (!board.rail.lost()) return true;  // the cut lies beyond the workload

  // Reboot: the store mounts (a cut is never an attack), the TPM starts after a non-orderly
  // shutdown, and every index is the acknowledged state or the interrupted command's.
  board.rail.reboot();
  if (board.boot() != storage::MountCause::ok) return why = "mount after the cut", false;
  tpm = std::make_unique<Tpm>(platform);
  tpm->power_on();
  if (tpm->in_failure_mode()) return why = "failure mode after the cut", false;
  if (run(*tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc != 0) return why = "Startup", false;
  Model seen;
  if (!observe(*tpm, seen, why)) return false;
  if (seen == acked || (in_flight && seen == *in_flight)) {
    // And the TPM carries on: the counter counts on from what it shows.
    if (run(*tpm, CommandBuilder(0x8002, TPM_CC_NV_Increment).u32(TPM_RH_OWNER).u32(kCounter).pw_session().bytes()).rc != 0)
      return why = "increment after recovery", false;
    Model after;
    if (!observe(*tpm, after, why)) return false;
    if (after.counter != seen.counter + 1) return why = "counter after recovery", false;
    return true;
  }
  why = "state is neither the acknowledged one nor the interrupted command's (counter " + std::to_string(seen.counter) +
        ", acked " + std::to_string(acked.counter) + ")";
  return false;
}

TEST(NvPowerCut, EveryStepOfWriteIncrementExtendUndefine) {
  uint64_t total = 0;
  std::string why;
  ASSERT_TRUE(cut_and_check(0, false, why, &total)) << why;
  std::printf("NV workload: %zu commands, %llu program/erase steps\n", workload().size(),
              static_cast<unsigned long long>(total));
  ASSERT_GT(total, 100u);
  int failures = 0;
  for (uint64_t step = 0; step <= total && failures < 5; ++step)
    for (bool torn : {false, true})
      if (!cut_and_check(step, torn, why)) {
        ADD_FAILURE() << "cut at step " << step << (torn ? " (torn)" : " (clean)") << ": " << why;
        ++failures;
      }
}

// ---- orderly indices: a counter and data kept in RAM (docs/engine.md "Orderly indices") ----
//
// The workload increments an orderly counter (its first write goes to the store), writes an
// orderly ordinary index (RAM only), shuts down orderly (one transaction: both records and the
// orderly flag), restarts, increments again, loses power without Shutdown (the Startup after it
// writes the counter's jump), increments and shuts down again (CLEAR: this store's 1 KB
// records cannot hold Shutdown(STATE)'s saved PCRs). Power is cut at every step
// of all of that, Startup commits included. After the cut and a reboot the counter must be at
// least every value it ever showed and count on above it; the data must be a copy that some
// Shutdown stored (or the interrupted Shutdown's), never a mix.
constexpr TPM_HANDLE kOrderlyCounter = 0x01500010, kOrderlyData = 0x01500011;
constexpr uint16_t kOrderlyDataSize = 64;

bool orderly_cut_and_check(uint64_t step, bool torn, std::string& why, uint64_t* total = nullptr) {
  storage::test::Board board(kGeo, kCfg, 64, 32);
  board.rail.seed(step * 2 + torn + 7);
  if (board.format() != storage::MountCause::ok) return why = "format", false;
  CutPlatform platform(board);
  auto tpm = std::make_unique<Tpm>(platform);
  testing::start(*tpm);
  const uint32_t orderly = kOwnerRW | TPMA_NV::ORDERLY;
  if (define(*tpm, kOrderlyCounter, orderly | (TPM_NT_COUNTER << 4), 8) || define(*tpm, kOrderlyData, orderly, kOrderlyDataSize))
    return why = "define", false;

  uint64_t max_seen = 0;
  std::optional<Bytes> stored;                  // data as the last acknowledged Shutdown stored it
  std::optional<Bytes> ram;                     // data as RAM holds it
  std::optional<Bytes> flushing;                // data the interrupted Shutdown was storing
  auto counter = [&](uint64_t& v) {
    Response r = run(*tpm, CommandBuilder(0x8002, TPM_CC_NV_Read).u32(TPM_RH_OWNER).u32(kOrderlyCounter).pw_session().u16(8).u16(0).bytes());
    v = 0;
    if (r.rc == TPM_RC_NV_UNINITIALIZED) return true;  // never written: below every value
    if (r.rc != 0) return false;
    r.u32();
    for (uint8_t b : r.tpm2b()) v = v << 8 | b;
    return true;
  };
  auto cmd = [&](const Bytes& c) {
    const uint32_t rc = run(*tpm, c).rc;
    if (rc) why = "rc " + std::to_string(rc) + " of command " + std::to_string(c[9] | c[8] << 8) + " " + failure_cause_name(tpm->failure_cause());
    return rc;
  };
  auto increment = [&] {
    if (cmd(CommandBuilder(0x8002, TPM_CC_NV_Increment).u32(TPM_RH_OWNER).u32(kOrderlyCounter).pw_session().bytes())) return false;
    uint64_t v = 0;
    if (!counter(v) || v <= max_seen) return why = "counter did not go up", false;
    max_seen = v;
    return true;
  };
  auto write = [&](uint8_t seed) {
    if (cmd(CommandBuilder(0x8002, TPM_CC_NV_Write).u32(TPM_RH_OWNER).u32(kOrderlyData).pw_session()
                .tpm2b(fill(seed, kOrderlyDataSize)).u16(0).bytes()))
      return false;
    ram = fill(seed, kOrderlyDataSize);
    return true;
  };
  auto shutdown = [&](TPM_SU type) {
    flushing = ram;
    if (cmd(CommandBuilder(0x8001, TPM_CC_Shutdown).u16(type).bytes())) return false;
    stored = ram;
    flushing.reset();
    return true;
  };
  auto startup = [&](TPM_SU type) {
    tpm->reset();
    if (tpm->in_failure_mode()) return why = "failure mode", false;
    if (cmd(CommandBuilder(0x8001, TPM_CC_Startup).u16(type).bytes())) return false;
    ram = stored;  // what RAM holds after any Startup but a Resume/Restart is the stored copy
    return true;
  };

  board.rail.reset_steps();
  if (!total) board.rail.arm(step, torn);
  const bool ok = increment() && increment() && increment() && write(1) && shutdown(TPM_SU_CLEAR) &&
                  startup(TPM_SU_CLEAR) && increment() && write(2) && increment() && startup(TPM_SU_CLEAR) &&
                  increment() && write(3) && shutdown(TPM_SU_CLEAR);
  if (total) {
    *total = board.rail.steps();
    return ok || (why = "workload: " + why, false);
  }
  if (!board.rail.lost()) return ok || (why = "workload failed without a cut: " + why, false);

  board.rail.reboot();
  if (board.boot() != storage::MountCause::ok) return why = "mount after the cut", false;
  tpm = std::make_unique<Tpm>(platform);
  tpm->power_on();
  if (tpm->in_failure_mode()) return why = "failure mode after the cut", false;
  if (cmd(CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()) != 0) return why = "Startup", false;
  uint64_t v = 0;
  if (!counter(v)) return why = "counter unreadable", false;
  if (v < max_seen) return why = "counter went back: " + std::to_string(v) + " < " + std::to_string(max_seen), false;
  const uint64_t before = max_seen;
  if (!increment() || max_seen <= before) return why = "increment after recovery", false;
  Response r = run(*tpm, CommandBuilder(0x8002, TPM_CC_NV_Read).u32(TPM_RH_OWNER).u32(kOrderlyData).pw_session()
                             .u16(kOrderlyDataSize).u16(0).bytes());
  std::optional<Bytes> data;
  if (r.rc == 0) {
    r.u32();
    data = r.tpm2b();
  } else if (r.rc != TPM_RC_NV_UNINITIALIZED) {
    return why = "data read rc " + std::to_string(r.rc), false;
  }
  if (data != stored && !(flushing && data == flushing)) return why = "data is neither stored copy", false;
  return true;
}

TEST(NvPowerCut, OrderlyCounterAndDataAcrossShutdownFlushAndRecovery) {
  uint64_t total = 0;
  std::string why;
  ASSERT_TRUE(orderly_cut_and_check(0, false, why, &total)) << why;
  std::printf("orderly NV workload: %llu program/erase steps\n", static_cast<unsigned long long>(total));
  ASSERT_GT(total, 20u);
  int failures = 0;
  for (uint64_t step = 0; step <= total && failures < 5; ++step)
    for (bool torn : {false, true})
      if (!orderly_cut_and_check(step, torn, why)) {
        ADD_FAILURE() << "cut at step " << step << (torn ? " (torn)" : " (clean)") << ": " << why;
        ++failures;
      }
}

}  // namespace
}  // namespace utpm::tpm
