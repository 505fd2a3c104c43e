// The base → refiner hand-off's schedule split (pipeline/refiner.hpp), on hand-checkable
// cases of diffusers' rules: the cutoff int(round(T − F·T)), the base's calls at or above it
// (StableDiffusionXLPipeline's denoising_end), the refiner's below it, +1 for a second-order
// sampler with an even count (StableDiffusionXLImg2ImgPipeline.get_timesteps). The images are
// checked against diffusers through the CLI: tests/cli/test_sdxl_refiner.sh.
#include <gtest/gtest.h>

#include "pipeline/refiner.hpp"
#include "schedulers/scheduler.hpp"

namespace {

using gen::pipeline::denoising_end_index;
using gen::pipeline::denoising_start_index;
using gen::pipeline::timestep_cutoff;

gen::SchedulerConfig leading() {  // sd_xl_base_1.0's spacing
  gen::SchedulerConfig c;
  c.timestep_spacing = gen::TimestepSpacing::Leading;
  return c;
}

TEST(RefinerSwitch, CutoffRoundsAsPython) {
  EXPECT_EQ(timestep_cutoff(1000, 0.8), 200);  // 1000 − 800.0000000000001 → 200
  EXPECT_EQ(timestep_cutoff(1000, 0.7), 300);
  EXPECT_EQ(timestep_cutoff(1000, 0.9995), 0);  // round(0.5): half to even
  EXPECT_EQ(timestep_cutoff(1000, 0.9985), 2);  // round(1.5)
}

TEST(RefinerSwitch, EulerTenLeadingStepsSplitEightAndTwo) {
  // Timesteps 901, 801, ..., 101, 1: eight at or above 200, two below.
  auto s = gen::make_scheduler("euler", leading(), 10);
  ASSERT_EQ(s->size(), 10);
  EXPECT_EQ(denoising_end_index(*s, 0, 1000, 0.8), 8);
  EXPECT_EQ(denoising_start_index(*s, 1000, 0.8), 8);
  // The cutoff on a timestep: 301 ≥ 300 runs on the base, the refiner starts after it.
  EXPECT_EQ(denoising_end_index(*s, 0, 1000, 0.7), 7);
  EXPECT_EQ(denoising_start_index(*s, 1000, 0.7), 7);
  // Counting from an image-to-image start.
  EXPECT_EQ(denoising_end_index(*s, 5, 1000, 0.8), 8);
}

TEST(RefinerSwitch, SecondOrderKeepsAStepsTwoCallsTogether) {
  // Heun, 4 leading steps: timesteps 751, 501, 501, 251, 251, 1, 1 (7 calls).
  auto s = gen::make_scheduler("heun", leading(), 4);
  ASSERT_EQ(s->size(), 7);
  ASSERT_EQ(s->order(), 2);
  // Below 300: 251, 251, 1, 1 (four, even) → five, the refiner starts at the second 501 call.
  EXPECT_EQ(denoising_start_index(*s, 1000, 0.7), 2);
  // Below 600: 501 ×2, 251 ×2, 1 ×2 (six) → seven: all of them.
  EXPECT_EQ(denoising_start_index(*s, 1000, 0.4), 0);
  // The base: every call at or above the cutoff (751, 501, 501 at 0.7).
  EXPECT_EQ(denoising_end_index(*s, 0, 1000, 0.7), 3);
}

}  // namespace
