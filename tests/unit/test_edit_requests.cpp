// The editing stage's own arithmetic, on hand-checkable cases: the step conventions of a
// strength (diffusers' get_timesteps, A1111's setup_img2img_steps), the outpainting sides and
// fill, and the canvas rounding. (The images and latents are checked against diffusers through
// the CLI: tests/cli/test_edit_parity.sh.)
#include <gtest/gtest.h>

#include "editing/outpaint.hpp"
#include "gen/error.hpp"
#include "pipeline/edit.hpp"

namespace {

using gen::StrengthSteps;
using gen::pipeline::strength_schedule;

TEST(EditSteps, DiffusersRunsTheLastIntNTimesSOfNSteps) {
  auto s = strength_schedule(10, 0.5, StrengthSteps::Diffusers);  // init_timestep 5, t_start 5
  EXPECT_EQ(s.schedule_steps, 10);
  EXPECT_EQ(s.begin_step, 5);
  s = strength_schedule(10, 0.15, StrengthSteps::Diffusers);  // int(1.5) = 1 step
  EXPECT_EQ(s.begin_step, 9);
  s = strength_schedule(7, 1.0, StrengthSteps::Diffusers);
  EXPECT_EQ(s.begin_step, 0);
  s = strength_schedule(10, 0.3, StrengthSteps::Diffusers);  // 10 × 0.3 = 3.0000000000000004 → 3
  EXPECT_EQ(s.begin_step, 7);
  EXPECT_THROW(strength_schedule(5, 0.1, StrengthSteps::Diffusers), gen::Error);  // int(0.5) = 0
}

TEST(EditSteps, A1111RunsTEncPlusOneOfNSteps) {
  // t_enc = int(min(S, 0.999) × N); sigmas[N − t_enc − 1:] → t_enc + 1 steps.
  auto s = strength_schedule(20, 0.5, StrengthSteps::A1111);
  EXPECT_EQ(s.schedule_steps, 20);
  EXPECT_EQ(s.begin_step, 9);   // 11 steps
  s = strength_schedule(20, 1.0, StrengthSteps::A1111);  // 0.999 × 20 = 19.98 → t_enc 19: all 20
  EXPECT_EQ(s.begin_step, 0);
  s = strength_schedule(5, 0.1, StrengthSteps::A1111);  // t_enc 0: one step, where diffusers has none
  EXPECT_EQ(s.begin_step, 4);
}

TEST(EditSteps, A1111FixedStretchesTheScheduleToRunExactlyNSteps) {
  auto s = strength_schedule(20, 0.5, StrengthSteps::A1111Fixed);  // int(20 / 0.5) = 40, t_enc 19
  EXPECT_EQ(s.schedule_steps, 40);
  EXPECT_EQ(s.begin_step, 20);
  s = strength_schedule(10, 0.3, StrengthSteps::A1111Fixed);  // int(33.33) = 33
  EXPECT_EQ(s.schedule_steps, 33);
  EXPECT_EQ(s.begin_step, 23);
  s = strength_schedule(10, 1.0, StrengthSteps::A1111Fixed);  // int(10 / 0.999) = 10
  EXPECT_EQ(s.schedule_steps, 10);
  EXPECT_EQ(s.begin_step, 0);
}

TEST(Outpaint, SidesParseInAnyOrderAndBadOnesAreNamed) {
  const auto s = gen::editing::parse_outpaint("top:8,left:16");
  EXPECT_EQ(s.left, 16);
  EXPECT_EQ(s.top, 8);
  EXPECT_EQ(s.right, 0);
  EXPECT_EQ(s.bottom, 0);
  for (const char* bad : {"", "left", "left:x", "left:-1", "middle:8", "left:0", "left:5000"}) {
    try {
      gen::editing::parse_outpaint(bad);
      ADD_FAILURE() << bad;
    } catch (const gen::Error& e) {
      EXPECT_EQ(e.code(), gen::ErrorCode::InvalidArgument) << bad;
      EXPECT_NE(std::string(e.what()).find("outpaint"), std::string::npos) << e.what();
    }
  }
}

TEST(Outpaint, TheCanvasIsRoundedUpToMultiplesOfEightOnTheAskedSides) {
  // 64 + 10 + 20 = 94 → 96: the 2 extra go right; 64 + 5 = 69 → 72: the 3 extra go to the top
  // (no bottom was asked for).
  auto s = gen::editing::round_sides(gen::editing::parse_outpaint("left:10,right:20,top:5"), 64, 64, 8, 16384);
  EXPECT_EQ(s.left, 10);
  EXPECT_EQ(s.right, 22);
  EXPECT_EQ(s.top, 8);
  EXPECT_EQ(s.bottom, 0);
  // An odd-sized image, only the left side asked for: the left side takes the extra (75 + 5 = 80).
  s = gen::editing::round_sides(gen::editing::parse_outpaint("left:1"), 75, 64, 8, 16384);
  EXPECT_EQ(s.left + 75, 80);
  EXPECT_EQ(s.right, 0);
  EXPECT_THROW(gen::editing::round_sides(gen::editing::parse_outpaint("right:4096"), 16000, 64, 8, 16384),
               gen::Error);
}

TEST(Outpaint, FillModesAndColours) {
  EXPECT_EQ(gen::editing::parse_outpaint_fill("edge").fill, gen::editing::Fill::Edge);
  EXPECT_EQ(gen::editing::parse_outpaint_fill("mirror").fill, gen::editing::Fill::Mirror);
  const auto c = gen::editing::parse_outpaint_fill("#10a0ff");
  EXPECT_EQ(c.fill, gen::editing::Fill::Colour);
  EXPECT_EQ(c.colour.r, 0x10);
  EXPECT_EQ(c.colour.g, 0xa0);
  EXPECT_EQ(c.colour.b, 0xff);
  for (const char* bad : {"", "red", "#12345", "#12345g", "noise"}) EXPECT_THROW(gen::editing::parse_outpaint_fill(bad), gen::Error);
}

}  // namespace
