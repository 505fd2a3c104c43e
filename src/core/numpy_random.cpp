#include "core/numpy_random.hpp"

#include <vector>

namespace gen {
namespace {

// numpy's SeedSequence constants (bit_generator.pyx).
constexpr std::uint32_t kInitA = 0x43b0d7e5, kMultA = 0x931e8875, kInitB = 0x8b51f9dd, kMultB = 0x58f38ded;
constexpr std::uint32_t kMixMultL = 0xca01f9dd, kMixMultR = 0x4973f715;
constexpr int kXShift = 16, kPoolSize = 4;

std::uint32_t hashmix(std::uint32_t value, std::uint32_t& hash_const) {
  value ^= hash_const;
  hash_const *= kMultA;
  value *= hash_const;
  value ^= value >> kXShift;
  return value;
}

std::uint32_t mix(std::uint32_t x, std::uint32_t y) {
  std::uint32_t result = kMixMultL * x - kMixMultR * y;
  result ^= result >> kXShift;
  return result;
}

// SeedSequence(seed).generate_state(4, uint64): the pool mixed from the seed's 32-bit words
// (little-endian, at least one word), then 8 words hashed out of it, read as 4 uint64 pairs.
void seed_state(std::uint64_t seed, std::uint64_t out[4]) {
  std::vector<std::uint32_t> entropy{static_cast<std::uint32_t>(seed)};
  if (seed >> 32) entropy.push_back(static_cast<std::uint32_t>(seed >> 32));
  std::uint32_t pool[kPoolSize];
  std::uint32_t hash_const = kInitA;
  for (int i = 0; i < kPoolSize; ++i)
    pool[i] = hashmix(i < static_cast<int>(entropy.size()) ? entropy[i] : 0, hash_const);
  for (int src = 0; src < kPoolSize; ++src)
    for (int dst = 0; dst < kPoolSize; ++dst)
      if (src != dst) pool[dst] = mix(pool[dst], hashmix(pool[src], hash_const));
  // (a seed has at most 2 words: nothing beyond the pool size to add)
  std::uint32_t words[8];
  std::uint32_t hash_b = kInitB;
  for (int i = 0; i < 8; ++i) {
    std::uint32_t v = pool[i % kPoolSize];
    v ^= hash_b;
    hash_b *= kMultB;
    v *= hash_b;
    v ^= v >> kXShift;
    words[i] = v;
  }
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint64_t>(words[2 * i]) | (std::uint64_t{words[2 * i + 1]} << 32);
}

constexpr unsigned __int128 kMultiplier =
    (static_cast<unsigned __int128>(2549297995355413924ULL) << 64) | 4865540595714422341ULL;

}  // namespace

NumpyPcg64::NumpyPcg64(std::uint64_t seed) {
  std::uint64_t s[4];
  seed_state(seed, s);
  const unsigned __int128 initstate = (static_cast<unsigned __int128>(s[0]) << 64) | s[1];
  const unsigned __int128 initseq = (static_cast<unsigned __int128>(s[2]) << 64) | s[3];
  // pcg_setseq_128_srandom_r
  state_ = 0;
  inc_ = (initseq << 1) | 1;
  step();
  state_ += initstate;
  step();
}

void NumpyPcg64::step() { state_ = state_ * kMultiplier + inc_; }

std::uint64_t NumpyPcg64::next_uint64() {
  step();
  const auto hi = static_cast<std::uint64_t>(state_ >> 64), lo = static_cast<std::uint64_t>(state_);
  const unsigned rot = static_cast<unsigned>(state_ >> 122);
  const std::uint64_t x = hi ^ lo;
  return (x >> rot) | (x << ((64 - rot) & 63));
}

double NumpyPcg64::random() { return static_cast<double>(next_uint64() >> 11) * (1.0 / 9007199254740992.0); }

}  // namespace gen
