// gen — numpy's default random generator, bit for bit: `numpy.random.default_rng(seed)` is a
// PCG64 (XSL-RR 128/64) seeded through numpy's SeedSequence, and `.random()` turns each 64-bit
// draw into a double as `(x >> 11) * 2^-53`. Reference behaviour that draws from it with a fixed
// seed (A1111's outpainting mk2 fill) is reproduced with this instead of a table of numbers.
// Sources: numpy/random/bit_generator.pyx (SeedSequence), numpy/random/_pcg64.pyx and
// src/pcg64/pcg64.h (PCG64), numpy/random/_common.pxd (next_double).
#pragma once

#include <cstdint>

namespace gen {

class NumpyPcg64 {
 public:
  // numpy.random.default_rng(seed) for a non-negative integer seed.
  explicit NumpyPcg64(std::uint64_t seed);
  std::uint64_t next_uint64();
  double random();  // Generator.random(): uniform in [0, 1)

 private:
  unsigned __int128 state_ = 0, inc_ = 0;
  void step();
};

}  // namespace gen
