// The memory guard (src/pipeline/memory_guard.cpp, src/core/memory_info.cpp): the kernel's
// numbers parsed, the estimate's growth with size and batch, the refusal and its message,
// and through gen::Engine on the tiny models: 2048² × batch 64 refused before anything is
// allocated, a normal request passing, --no-memory-guard (memory_guard = false) running what
// the guard would refuse. How close the estimate is to measured peaks is a benchmark
// (tools/bench_memory.py, docs/performance.md#memory-guard), not a test here.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/memory_info.hpp"
#include "gen/gen.hpp"
#include "models/vae.hpp"
#include "pipeline/memory_guard.hpp"
#include "tiny_models.hpp"

using namespace gen;

namespace {

models::VaeConfig small_vae_config() {
  models::VaeConfig c;
  c.channels = 32;
  c.block_channels = {32, 32, 64, 64};
  c.norm_groups = 8;
  return c;
}

Request sized(int width, int height, int batch) {
  Request r;
  r.prompt = "a house";
  r.width = width;
  r.height = height;
  r.batch_size = batch;
  r.steps = 1;
  r.seed = 1;
  r.device = Device::Cpu;
  return r;
}

}  // namespace

TEST(MemoryInfo, ParsesMeminfoAndCgroupHeadroom) {
  EXPECT_EQ(core::meminfo_available("MemTotal:       32000 kB\nMemFree:  100 kB\nMemAvailable:    2048 kB\n"),
            2048 * 1024);
  EXPECT_EQ(core::meminfo_available("MemTotal: 32000 kB\n"), -1);
  core::CgroupMemory c;
  EXPECT_EQ(core::cgroup_headroom(c), -1);  // "max": no limit
  c.limit = 1000, c.usage = 600, c.inactive_file = 100;
  EXPECT_EQ(core::cgroup_headroom(c), 500);
  c.usage = 5000, c.inactive_file = 0;
  EXPECT_EQ(core::cgroup_headroom(c), 0);
  const auto host = core::host_memory_available();
  EXPECT_GT(host.available, 0);
  EXPECT_FALSE(host.source.empty());
  EXPECT_GT(core::process_rss_bytes(), 0);
  EXPECT_GE(core::process_peak_rss_bytes(), core::process_rss_bytes());
  EXPECT_EQ(core::bytes_text(std::int64_t{3} << 30), "3.0 GiB");
  EXPECT_EQ(core::bytes_text(std::int64_t{512} << 20), "512 MiB");
}

TEST(MemoryGuard, EstimateGrowsWithSizeBatchAndControlNets) {
  const auto unet = models::UNetConfig::sd15();
  const std::int64_t a = pipeline::unet_step_bytes(unet, 64, 64, 2, 4);
  EXPECT_EQ(pipeline::unet_step_bytes(unet, 64, 64, 4, 4), 2 * a);  // linear in the rows
  EXPECT_GT(pipeline::unet_step_bytes(unet, 128, 128, 2, 4), 3 * a);  // about 4× the pixels
  EXPECT_EQ(pipeline::unet_step_bytes(unet, 64, 64, 2, 2), a / 2);    // fp16
  EXPECT_LE(pipeline::unet_step_bytes(unet, 64, 64, 2, 4, true), a);  // a ControlNet: the encoder half
  EXPECT_GT(pipeline::unet_step_bytes(unet, 64, 64, 2, 4, true), a / 2);
  // SD 1.5 at 512² with CFG in fp32: level 0's GEGLU (18 × 320 × 4096 × 2 rows × 4 B ≈ 189 MB)
  // plus the skips (≈ 60 MB): between 200 and 400 MB.
  EXPECT_GT(a, 200e6);
  EXPECT_LT(a, 400e6);

  const models::Vae vae(small_vae_config());
  const c10::Device cpu(c10::kCPU);
  auto estimate = [&](const Request& r, int controls) {
    return pipeline::estimate_memory(r, unet, vae, controls, 8, cpu, at::kFloat, 0);
  };
  const auto base = estimate(sized(512, 512, 1), 0);
  EXPECT_GT(base.work, 0);
  EXPECT_GT(base.in_use, 0);  // this process's RSS
  EXPECT_GT(base.available, 0);
  EXPECT_GT(estimate(sized(1024, 512, 1), 0).work, base.work);
  EXPECT_GT(estimate(sized(512, 512, 2), 0).work, base.work);
  EXPECT_GT(estimate(sized(512, 512, 1), 1).work, base.work);
  auto no_cfg = sized(512, 512, 1);
  no_cfg.cfg_scale = 1.0;
  EXPECT_LT(estimate(no_cfg, 0).work, base.work);
  auto hires = sized(512, 512, 1);
  hires.hires_scale = 2.0;
  EXPECT_GT(estimate(hires, 0).work, base.work);
  EXPECT_NE(estimate(hires, 0).stage.find("hires"), std::string::npos);
  // A limit caps what is available: the peak (RSS included) may not pass it.
  const auto capped = pipeline::estimate_memory(sized(512, 512, 1), unet, vae, 0, 8, cpu, at::kFloat,
                                                base.in_use + (std::int64_t{64} << 20));
  // (the RSS moves a little between the two estimates)
  EXPECT_NEAR(static_cast<double>(capped.available), static_cast<double>(std::int64_t{64} << 20), 16.0 * (1 << 20));
  EXPECT_NE(capped.available_from.find("memory_limit"), std::string::npos);
}

TEST(MemoryGuard, RefusesWithTheEstimateWhatIsAvailableAndWhatToChange) {
  pipeline::MemoryEstimate e;
  e.in_use = std::int64_t{1} << 30;
  e.work = std::int64_t{30} << 30;
  e.stage = "UNet step at 2048x2048 × 128 rows";
  e.available = std::int64_t{8} << 30;
  e.available_from = "MemAvailable";
  try {
    pipeline::check_memory(e, sized(2048, 2048, 64));
    FAIL() << "not refused";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::OutOfMemory);
    const std::string m = err.what();
    for (const char* part : {"31.0 GiB", "30.0 GiB", "UNet step at 2048x2048", "8.0 GiB is available", "MemAvailable",
                             "smaller batch_size", "smaller size", "--no-memory-guard"})
      EXPECT_NE(m.find(part), std::string::npos) << part << " not in: " << m;
  }
  e.stage = "VAE decode at 2048x2048 × batch 1";
  try {
    pipeline::check_memory(e, sized(2048, 2048, 1));
    FAIL() << "not refused";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("--vae-tiling blended"), std::string::npos) << err.what();
    EXPECT_EQ(std::string(err.what()).find("batch_size"), std::string::npos) << err.what();
  }
  e.work = e.available;
  EXPECT_NO_THROW(pipeline::check_memory(e, sized(2048, 2048, 64)));  // fits exactly
  e.work = std::int64_t{100} << 40;
  e.available = -1;  // unknown: nothing to compare with
  EXPECT_NO_THROW(pipeline::check_memory(e, sized(2048, 2048, 64)));
}

TEST(MemoryGuard, EngineRefusesHugeRequestsBeforeAllocatingAndRunsNormalOnes) {
  EngineOptions o;
  o.model = gen::test::tiny_models() + "/diffusers/tiny-sd15-pipeline";
  o.device = Device::Cpu;
  o.memory_limit = std::int64_t{4} << 30;  // the same answer on machines of any size
  Engine engine(o);
  EXPECT_EQ(engine.generate(sized(64, 64, 2)).size(), 2u);  // normal: passes
  const auto t = engine.last_timings();
  EXPECT_GT(t.memory_work_bytes, 0);
  EXPECT_GT(t.memory_in_use_bytes, 0);
  EXPECT_GT(t.memory_available_bytes, t.memory_work_bytes);

  const auto peak_before = core::process_peak_rss_bytes(), rss_before = core::process_rss_bytes();
  try {
    engine.generate(sized(2048, 2048, 64));
    FAIL() << "2048x2048 × 64 was not refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::OutOfMemory);
    EXPECT_NE(std::string(e.what()).find("memory guard"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("smaller batch_size"), std::string::npos) << e.what();
  }
  // Refused before the latents, let alone the activations, existed: the peak did not move by
  // more than the allocator's noise (the activations would be tens of GiB).
  EXPECT_LT(core::process_peak_rss_bytes() - std::max(peak_before, rss_before), std::int64_t{256} << 20);

  // With the guard off the same engine runs what the guard refuses under a tiny limit.
  EngineOptions tight = o;
  tight.memory_limit = 1;
  Engine refusing(tight);
  EXPECT_THROW(refusing.generate(sized(64, 64, 1)), Error);
  tight.memory_guard = false;
  Engine unguarded(tight);
  EXPECT_EQ(unguarded.generate(sized(64, 64, 1)).size(), 1u);
  EXPECT_EQ(unguarded.last_timings().memory_work_bytes, -1);
}
