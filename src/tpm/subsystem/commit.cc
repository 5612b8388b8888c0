// ECC commit state (Part 1, ECDAA "Commit" and the two-phase key exchange): the commit counter,
// the array of outstanding commits and the commit values r they stand for.
//
// r for count c is derived, never stored:
//   r = KDFa(SHA-256, commitNonce, "ECDAA Commit", name, c (8 octets), 8 * (ecc_bytes + 8)) mod n
// (name: the signing key's Name for Commit/ECDAA, empty for EC_Ephemeral/ZGen_2Phase). The
// 64 extra bits make the reduction's bias negligible. commitNonce is new at every Startup and
// the array volatile (State::commit), so an r cannot be used twice.
#include "crypto/ecc.h"
#include "crypto/kdf.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

constexpr unsigned kCommitBits = sizeof(State{}.commit.array) * 8;  // 128
static_assert((kCommitBits & (kCommitBits - 1)) == 0, "the index is the count's low bits");

bool bit(const State& st, uint64_t count) {
  const unsigned i = static_cast<unsigned>(count % kCommitBits);
  return (st.commit.array[i / 8] >> (i % 8)) & 1u;
}
void set_bit(State& st, uint64_t count, bool on) {
  const unsigned i = static_cast<unsigned>(count % kCommitBits);
  const uint8_t m = static_cast<uint8_t>(1u << (i % 8));
  st.commit.array[i / 8] = static_cast<uint8_t>(on ? st.commit.array[i / 8] | m : st.commit.array[i / 8] & ~m);
}

// The full count of an outstanding commit from its 16 low bits: one of the last kCommitBits
// counts handed out whose bit is still set.
bool full_count(const State& st, uint16_t count16, uint64_t& count) {
  const uint64_t now = st.clock.commit_counter;
  const uint16_t back = static_cast<uint16_t>(static_cast<uint16_t>(now) - count16);
  if (back == 0 || back > kCommitBits || back > now) return false;
  count = now - back;
  return bit(st, count);
}

}  // namespace

bool commit_r(const State& st, crypto::EccCurve curve, uint64_t count, std::span<const uint8_t> name,
              crypto::EccScalar& r) {
  const size_t len = crypto::ecc_bytes(curve);
  uint8_t c8[8];
  for (int i = 0; i < 8; ++i) c8[i] = static_cast<uint8_t>(count >> (56 - 8 * i));
  uint8_t wide[crypto::kMaxEccBytes + 8];
  static constexpr uint8_t kLabel[] = {'E', 'C', 'D', 'A', 'A', ' ', 'C', 'o', 'm', 'm', 'i', 't'};
  const size_t wlen = len + 8;
  bool ok = crypto::kdfa(crypto::HashAlg::sha256, st.commit.nonce, kLabel, name, c8, static_cast<uint32_t>(8 * wlen),
                         {wide, wlen}) == crypto::Status::ok &&
            crypto::ecc_scalar_muladd(curve, {wide, wlen}, {}, {}, r) == crypto::Status::ok &&
            crypto::ecc_scalar_valid(curve, r);
  crypto::zeroize(wide);
  if (!ok) crypto::zeroize(r);
  return ok;
}

uint64_t commit_next(const State& st) { return st.clock.commit_counter; }

uint16_t commit_take(State& st) {
  const uint64_t count = st.clock.commit_counter++;
  set_bit(st, count, true);
  return static_cast<uint16_t>(count);
}

bool commit_lookup(const State& st, uint16_t count16, uint64_t& count) { return full_count(st, count16, count); }

void commit_end(State& st, uint64_t count) { set_bit(st, count, false); }

}  // namespace utpm::tpm
