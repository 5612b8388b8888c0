// Power loss, exhaustively: a scripted workload (single small updates, multi-record commits,
// removals, aborts, transactions that spill into a new segment, enough volume for several
// compactions) is cut at every single program-unit and erase step of the store flash and the
// anchor flash, both cleanly (the step never happens) and torn (the step half happens). After
// each cut the board reboots; the store must mount (a cut is never reported as an attack), hold
// exactly the last committed state or, if the cut fell inside commit(), possibly the state of
// that commit, and then carry on with the rest of the workload without losing anything.
#include <gtest/gtest.h>

#include <cstdio>

#include "storage/store_test_util.h"

namespace utpm::storage {
namespace {

using test::Board;
using test::Model;
using test::pattern;

struct Op {
  enum Kind { write, remove, abort } kind;
  uint32_t id;
  size_t len;
};
using Txn = std::vector<Op>;

// Geometry of the power-cut board: 12 segments of 512 bytes, records up to 128 bytes.
constexpr FlashGeometry kGeo{512, 12, 8};
constexpr StoreConfig kCfg{1, 128};

std::vector<Txn> script() {
  std::vector<Txn> s;
  s.push_back({{Op::write, 1, 16}, {Op::write, 2, 8}, {Op::write, 3, 64}, {Op::write, 4, 40}});
  for (int round = 0; round < 4; ++round) {
    s.push_back({{Op::write, 1, 16}});                                   // clock
    s.push_back({{Op::write, 2, 8}});                                    // DA counter
    s.push_back({{Op::write, 3, 64}, {Op::write, 4, 48}, {Op::write, 5, 24}});  // several at once
    s.push_back({{Op::write, 6, 20}, {Op::abort, 0, 0}, {Op::write, 1, 16}});  // abort, then more
    s.push_back({{Op::remove, 5, 0}, {Op::write, 2, 8}});
    s.push_back({{Op::write, 7, 128}, {Op::write, 8, 120}});            // large: spills
    s.push_back({{Op::remove, 7, 0}, {Op::remove, 8, 0}, {Op::write, 9, 32}});
    s.push_back({{Op::write, 9, 33}, {Op::write, 9, 34}});              // same id twice
  }
  return s;
}

Model apply(Model m, const Txn& t) {
  Model staged = m;
  for (const Op& op : t) {
    if (op.kind == Op::abort) {
      staged = m;
    } else if (op.kind == Op::remove) {
      staged.erase(op.id);
    } else {
      staged[op.id] = pattern(op.id, static_cast<uint32_t>(op.len * 7 + op.id), op.len);
    }
  }
  return staged;
}

// Runs script[from..] until done or power is lost. committed = state after the last commit that
// returned ok; maybe = state of the transaction whose commit() was cut (if any).
struct Outcome {
  size_t next_txn;      // first transaction not known to be committed
  bool cut_in_commit = false;
  bool power_lost = false;
};

Outcome run(Board& b, const std::vector<Txn>& s, size_t from, Model& committed) {
  Outcome o{from};
  for (size_t i = from; i < s.size(); ++i) {
    o.next_txn = i;
    for (const Op& op : s[i]) {
      StoreResult r = StoreResult::ok;
      if (op.kind == Op::abort) {
        b.store().abort();
      } else if (op.kind == Op::remove) {
        r = b.store().remove(op.id);
      } else {
        r = b.store().write(op.id,
                            pattern(op.id, static_cast<uint32_t>(op.len * 7 + op.id), op.len));
      }
      if (r != StoreResult::ok) {
        EXPECT_TRUE(b.rail.lost()) << "txn " << i << " op failed without a power cut: "
                                   << static_cast<int>(r);
        o.power_lost = true;
        return o;
      }
    }
    const StoreResult r = b.store().commit();
    if (r != StoreResult::ok) {
      EXPECT_TRUE(b.rail.lost()) << "commit failed without a power cut";
      o.power_lost = true;
      o.cut_in_commit = true;
      return o;
    }
    committed = apply(committed, s[i]);
  }
  o.next_txn = s.size();
  return o;
}

Model final_model() {
  Model all;
  for (const Txn& t : script()) all = apply(all, t);
  return all;
}

// Cuts power at `step` (torn or clean), reboots, optionally cuts again `second_cut` steps into
// the recovery (mount and the transactions after it), reboots, and finishes the workload.
// Checks after every reboot that the store mounts and holds the last committed state or the
// interrupted commit's state. Returns false with a description on the first violation.
bool cut_and_recover(uint64_t step, bool torn, uint64_t seed, std::string& why,
                     uint64_t* total_steps = nullptr, int64_t second_cut = -1) {
  const std::vector<Txn> s = script();
  Board b(kGeo, kCfg);
  b.rail.seed(seed);
  if (b.format() != MountCause::ok) {
    why = "format failed";
    return false;
  }
  b.rail.reset_steps();
  if (!total_steps) b.rail.arm(step, torn);
  Model committed;
  Outcome o = run(b, s, 0, committed);
  if (total_steps) {
    *total_steps = b.rail.steps();
    return true;
  }
  if (!o.power_lost) return true;  // the cut point lies beyond the workload
  Model maybe = o.cut_in_commit ? apply(committed, s[o.next_txn]) : committed;
  size_t next = o.next_txn;
  int cuts_left = second_cut >= 0 ? 1 : 0;
  for (;;) {
    b.rail.reboot();
    if (cuts_left > 0) {
      b.rail.reset_steps();
      b.rail.arm(static_cast<uint64_t>(second_cut), !torn);
    }
    const MountCause c = b.boot();
    if (c != MountCause::ok) {
      if (cuts_left > 0 && b.rail.lost()) {  // the second cut hit the mount itself
        --cuts_left;
        continue;
      }
      why = std::string("mount after cut: ") + mount_cause_name(c);
      return false;
    }
    const std::string d_old = test::diff_state(b.store(), committed);
    const std::string d_new = test::diff_state(b.store(), maybe);
    if (!d_old.empty() && !d_new.empty()) {
      why = "state after cut is neither the last commit nor the interrupted one: " + d_old;
      return false;
    }
    // The interrupted transaction counts as done if its state is what we see.
    if (d_old.empty()) {
      maybe = committed;
    } else {
      committed = maybe;
      ++next;
    }
    const Outcome rest = run(b, s, next, committed);
    if (rest.power_lost) {
      if (cuts_left == 0) {
        why = "failure after recovery without a cut";
        return false;
      }
      --cuts_left;
      next = rest.next_txn;
      maybe = rest.cut_in_commit ? apply(committed, s[next]) : committed;
      continue;
    }
    break;
  }
  if (b.boot() != MountCause::ok) {
    why = "mount after completing the workload failed";
    return false;
  }
  const std::string d_end = test::diff_state(b.store(), committed);
  if (!d_end.empty() || committed != final_model()) {
    why = "final state wrong: " + d_end;
    return false;
  }
  return true;
}

TEST(PowerCut, EveryStepOfTheWorkloadCleanAndTorn) {
  uint64_t total = 0;
  std::string why;
  ASSERT_TRUE(cut_and_recover(0, false, 1, why, &total));
  Board probe(kGeo, kCfg);
  ASSERT_EQ(probe.format(), MountCause::ok);
  std::printf("workload: %zu transactions, %llu program/erase steps\n", script().size(),
              static_cast<unsigned long long>(total));
  ASSERT_GT(total, 500u);
  int failures = 0;
  for (uint64_t step = 0; step < total; ++step) {
    for (bool torn : {false, true}) {
      if (!cut_and_recover(step, torn, step * 2 + torn + 1, why)) {
        ADD_FAILURE() << "cut at step " << step << (torn ? " (torn)" : " (clean)") << ": " << why;
        if (++failures > 10) return;
      }
    }
  }
}

TEST(PowerCut, WorkloadCompactsAndSpills) {
  // The exhaustive test is only meaningful if the workload exercises compaction and spills.
  const std::vector<Txn> s = script();
  Board b(kGeo, kCfg);
  ASSERT_EQ(b.format(), MountCause::ok);
  Model m;
  const Outcome o = run(b, s, 0, m);
  EXPECT_FALSE(o.power_lost);
  EXPECT_GE(b.store().stats().compactions, 4u);
  EXPECT_GT(b.flash.erase_ops(), 12u);  // wrapped around the ring at least once
}

TEST(PowerCut, SecondCutDuringRecoverySampled) {
  // Cuts during recovery (anchor roll-forward, first segment opening, compaction after a
  // reboot): a sample of first cuts, each followed by a cut at every step of the recovery and
  // of the next transaction.
  uint64_t total = 0;
  std::string why;
  ASSERT_TRUE(cut_and_recover(0, false, 1, why, &total));
  int failures = 0;
  for (uint64_t step = 3; step < total; step += 61) {
    for (int64_t second = 0; second < 60; ++second) {
      if (!cut_and_recover(step, true, step + 7, why, nullptr, second)) {
        ADD_FAILURE() << "cut at " << step << " then at " << second << ": " << why;
        if (++failures > 10) return;
      }
    }
  }
}

TEST(PowerCut, DuringFormat) {
  // Every step of format(): the device is afterwards either blank (format again) or formatted,
  // never "tampered".
  Board probe(kGeo, kCfg);
  probe.rail.reset_steps();
  ASSERT_EQ(probe.format(), MountCause::ok);
  const uint64_t total = probe.rail.steps();
  for (uint64_t step = 0; step < total; ++step) {
    for (bool torn : {false, true}) {
      Board b(kGeo, kCfg);
      b.rail.seed(step + 1);
      b.rail.reset_steps();
      b.rail.arm(step, torn);
      EXPECT_NE(b.format(), MountCause::ok);
      b.rail.reboot();
      const MountCause c = b.boot();
      ASSERT_TRUE(c == MountCause::blank || c == MountCause::ok)
          << "step " << step << ": " << mount_cause_name(c);
      if (c == MountCause::blank) {
        ASSERT_EQ(b.format(), MountCause::ok);
      }
      ASSERT_EQ(b.boot(), MountCause::ok);
      ASSERT_EQ(b.store().write(1, pattern(1, 0, 10)), StoreResult::ok);
      ASSERT_EQ(b.store().commit(), StoreResult::ok);
    }
  }
}

}  // namespace
}  // namespace utpm::storage
