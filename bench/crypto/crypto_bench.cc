// Google Benchmark of every crypto primitive, built once per backend (bench_crypto_openssl,
// bench_crypto_mbedtls) from this one source so the numbers compare like for like.
// Run: build/host-release/bench/crypto/bench_crypto_openssl [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "crypto/crypto.h"
#include "crypto/drbg.h"
#include "crypto/ecc.h"
#include "crypto/kdf.h"
#include "crypto/rsa.h"
#include "crypto/sym.h"

namespace utpm::crypto {
namespace {

DrbgState seeded_drbg(uint8_t tag) {
  uint8_t seed[kDrbgSeedSize];
  for (size_t i = 0; i < sizeof seed; ++i) seed[i] = static_cast<uint8_t>(tag * 31 + i);
  DrbgState st{};
  drbg_instantiate(st, Bytes(seed, sizeof seed), {});
  return st;
}

void BM_Hash(benchmark::State& state, HashAlg alg) {
  std::vector<uint8_t> data(static_cast<size_t>(state.range(0)), 0x5A);
  uint8_t out[kMaxDigestSize];
  for (auto _ : state) {
    benchmark::DoNotOptimize(hash(alg, data, out));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK_CAPTURE(BM_Hash, sha1, HashAlg::sha1)->Arg(1024)->Arg(65536);
BENCHMARK_CAPTURE(BM_Hash, sha256, HashAlg::sha256)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK_CAPTURE(BM_Hash, sha384, HashAlg::sha384)->Arg(1024)->Arg(65536);

void BM_HmacSha256(benchmark::State& state) {
  std::vector<uint8_t> data(static_cast<size_t>(state.range(0)), 0x5A), key(32, 1);
  uint8_t out[32];
  for (auto _ : state) benchmark::DoNotOptimize(hmac(HashAlg::sha256, key, data, out));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_HmacSha256)->Arg(64)->Arg(1024);

void BM_Kdfa(benchmark::State& state) {
  const uint8_t key[32] = {1}, u[32] = {2}, v[32] = {3};
  const uint8_t label[] = {'S', 'T', 'O', 'R', 'A', 'G', 'E'};
  uint8_t out[32];
  for (auto _ : state) {
    benchmark::DoNotOptimize(kdfa(HashAlg::sha256, key, label, u, v, 256, out));
  }
}
BENCHMARK(BM_Kdfa);

void BM_Drbg(benchmark::State& state) {
  DrbgState st = seeded_drbg(1);
  std::vector<uint8_t> out(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(drbg_generate(st, out));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Drbg)->Arg(32)->Arg(4096);

void BM_Sym(benchmark::State& state, SymMode mode, size_t key_size) {
  std::vector<uint8_t> key(key_size, 7), iv(16, 9), data(static_cast<size_t>(state.range(0)), 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(sym_encrypt(mode, key, iv, data, data));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK_CAPTURE(BM_Sym, aes128_cfb, SymMode::cfb, 16)->Arg(64)->Arg(4096);
BENCHMARK_CAPTURE(BM_Sym, aes256_cfb, SymMode::cfb, 32)->Arg(4096);
BENCHMARK_CAPTURE(BM_Sym, aes128_ctr, SymMode::ctr, 16)->Arg(4096);
BENCHMARK_CAPTURE(BM_Sym, aes128_cbc, SymMode::cbc, 16)->Arg(4096);

void BM_AeadSeal(benchmark::State& state) {
  std::vector<uint8_t> key(32, 1), nonce(12, 2), aad(16, 3), data(static_cast<size_t>(state.range(0)), 4);
  uint8_t tag[16];
  for (auto _ : state) benchmark::DoNotOptimize(aead_seal(key, nonce, aad, data, data, tag));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_AeadSeal)->Arg(256)->Arg(4096);

const RsaPrivateKey& rsa_key(uint16_t bits) {
  static RsaPrivateKey k1024, k2048;
  static bool made1024 = false, made2048 = false;
  RsaPrivateKey& k = bits == 1024 ? k1024 : k2048;
  bool& made = bits == 1024 ? made1024 : made2048;
  if (!made) {
    DrbgState st = seeded_drbg(static_cast<uint8_t>(bits >> 8));
    rsa_generate(bits, 0, drbg_source(st), k);
    made = true;
  }
  return k;
}

void BM_RsaSign(benchmark::State& state, RsaScheme scheme) {
  const auto& k = rsa_key(static_cast<uint16_t>(state.range(0)));
  DrbgState st = seeded_drbg(2);
  uint8_t digest[32] = {1, 2, 3};
  std::vector<uint8_t> sig(rsa_bytes(k.pub));
  for (auto _ : state) {
    if (rsa_sign(scheme, HashAlg::sha256, k, digest, drbg_source(st), sig) != Status::ok) {
      state.SkipWithError("sign failed");
    }
  }
}
BENCHMARK_CAPTURE(BM_RsaSign, pkcs1, RsaScheme::rsassa)->Arg(1024)->Arg(2048)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_RsaSign, pss, RsaScheme::rsapss)->Arg(2048)->Unit(benchmark::kMicrosecond);

void BM_RsaVerify(benchmark::State& state) {
  const auto& k = rsa_key(2048);
  DrbgState st = seeded_drbg(3);
  uint8_t digest[32] = {1, 2, 3};
  std::vector<uint8_t> sig(256);
  rsa_sign(RsaScheme::rsassa, HashAlg::sha256, k, digest, drbg_source(st), sig);
  for (auto _ : state) {
    if (rsa_verify(RsaScheme::rsassa, HashAlg::sha256, k.pub, digest, sig) != Status::ok) {
      state.SkipWithError("verify failed");
    }
  }
}
BENCHMARK(BM_RsaVerify)->Unit(benchmark::kMicrosecond);

void BM_RsaOaepDecrypt(benchmark::State& state) {
  const auto& k = rsa_key(2048);
  DrbgState st = seeded_drbg(4);
  const uint8_t msg[32] = {5};
  std::vector<uint8_t> ct(256), pt(256);
  rsa_encrypt(RsaScheme::oaep, HashAlg::sha256, {}, k.pub, msg, drbg_source(st), ct);
  for (auto _ : state) {
    size_t n = 0;
    if (rsa_decrypt(RsaScheme::oaep, HashAlg::sha256, {}, k, ct, drbg_source(st), pt, &n) !=
        Status::ok) {
      state.SkipWithError("decrypt failed");
    }
  }
}
BENCHMARK(BM_RsaOaepDecrypt)->Unit(benchmark::kMicrosecond);

// Deterministic generation from a fresh stream each time (a primary key from a new seed).
void BM_RsaKeygen(benchmark::State& state) {
  DrbgState st = seeded_drbg(5);
  RsaPrivateKey k;
  for (auto _ : state) {
    if (rsa_generate(static_cast<uint16_t>(state.range(0)), 0, drbg_source(st), k) != Status::ok) {
      state.SkipWithError("keygen failed");
    }
  }
}
BENCHMARK(BM_RsaKeygen)->Arg(2048)->Unit(benchmark::kMillisecond)->MinTime(5.0);

void BM_EcdsaSign(benchmark::State& state, EccCurve c) {
  DrbgState st = seeded_drbg(6);
  EccScalar d;
  EccPoint q;
  ecc_generate(c, drbg_source(st), d, q);
  uint8_t digest[32] = {1};
  uint8_t r[kMaxEccBytes], s[kMaxEccBytes];
  const size_t len = ecc_bytes(c);
  for (auto _ : state) {
    if (ecdsa_sign(c, d, digest, drbg_source(st), MutBytes(r, len), MutBytes(s, len)) !=
        Status::ok) {
      state.SkipWithError("sign failed");
    }
  }
}
BENCHMARK_CAPTURE(BM_EcdsaSign, p256, EccCurve::nist_p256)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EcdsaSign, p384, EccCurve::nist_p384)->Unit(benchmark::kMicrosecond);

void BM_EcdsaVerify(benchmark::State& state, EccCurve c) {
  DrbgState st = seeded_drbg(7);
  EccScalar d;
  EccPoint q;
  ecc_generate(c, drbg_source(st), d, q);
  uint8_t digest[32] = {1};
  uint8_t r[kMaxEccBytes], s[kMaxEccBytes];
  const size_t len = ecc_bytes(c);
  ecdsa_sign(c, d, digest, drbg_source(st), MutBytes(r, len), MutBytes(s, len));
  for (auto _ : state) {
    if (ecdsa_verify(c, q, digest, Bytes(r, len), Bytes(s, len)) != Status::ok) {
      state.SkipWithError("verify failed");
    }
  }
}
BENCHMARK_CAPTURE(BM_EcdsaVerify, p256, EccCurve::nist_p256)->Unit(benchmark::kMicrosecond);

void BM_EccKeygen(benchmark::State& state) {
  DrbgState st = seeded_drbg(8);
  EccScalar d;
  EccPoint q;
  for (auto _ : state) ecc_generate(EccCurve::nist_p256, drbg_source(st), d, q);
}
BENCHMARK(BM_EccKeygen)->Unit(benchmark::kMicrosecond);

void BM_EcdhZ(benchmark::State& state) {
  DrbgState st = seeded_drbg(9);
  EccScalar d1, d2;
  EccPoint q1, q2, z;
  ecc_generate(EccCurve::nist_p256, drbg_source(st), d1, q1);
  ecc_generate(EccCurve::nist_p256, drbg_source(st), d2, q2);
  for (auto _ : state) {
    if (ecdh_z(EccCurve::nist_p256, d1, q2, z) != Status::ok) state.SkipWithError("ecdh failed");
  }
}
BENCHMARK(BM_EcdhZ)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace utpm::crypto

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("crypto_backend", utpm::crypto::backend_name());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
