#include "pipeline/memory_guard.hpp"

#include <algorithm>
#include <cmath>

#include "core/fail.hpp"
#include "core/memory_info.hpp"
#include "pipeline/hires.hpp"
#include "pipeline/tiled_vae.hpp"

namespace gen::pipeline {
namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

std::string size_text(std::int64_t w, std::int64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

}  // namespace

std::int64_t unet_step_bytes(const models::UNetConfig& c, std::int64_t latent_h, std::int64_t latent_w,
                             std::int64_t rows, std::size_t element_size, bool encoder_only) {
  const auto levels = c.levels();
  std::vector<double> tokens(levels + 1);
  for (std::size_t l = 0; l <= levels; ++l)
    tokens[l] = static_cast<double>(ceil_div(latent_h, std::int64_t{1} << l) * ceil_div(latent_w, std::int64_t{1} << l));
  const auto ch = [&](std::size_t l) { return static_cast<double>(c.block_channels[l]); };
  // The down path's outputs, all alive until the up path takes them.
  double skips = static_cast<double>(c.model_channels) * tokens[0];
  for (std::size_t l = 0; l < levels; ++l) {
    skips += static_cast<double>(c.num_res_blocks) * ch(l) * tokens[l];
    if (l + 1 < levels) skips += ch(l) * tokens[l + 1];
  }
  // The largest working set of one block.
  double widest = 0;
  for (std::size_t l = 0; l < levels; ++l) {
    const double in = l == 0 ? static_cast<double>(c.model_channels) : ch(l - 1);
    widest = std::max(widest, (in + 3 * ch(l)) * tokens[l]);          // down resnet
    if (c.has_attention(l)) widest = std::max(widest, 18 * ch(l) * tokens[l]);  // GEGLU feed-forward
    if (encoder_only) continue;
    const double below = l + 1 < levels ? ch(l + 1) : ch(l);
    widest = std::max(widest, (2 * (below + ch(l)) + 3 * ch(l)) * tokens[l]);  // up resnet on the concatenation
    if (l > 0) widest = std::max(widest, 2 * ch(l) * tokens[l - 1]);           // the upsample's input and output
  }
  return static_cast<std::int64_t>(static_cast<double>(rows) * static_cast<double>(element_size) * (skips + widest));
}

std::int64_t decode_step_bytes(const models::Vae& vae, std::int64_t height, std::int64_t width, std::int64_t batch,
                               TilingMode mode, c10::Device device, at::ScalarType dtype) {
  const auto f = std::int64_t{1} << (vae.config().levels() - 1);
  VaeTiling tiles;
  const bool fits_one_tile = height <= tiles.tile_latent * f && width <= tiles.tile_latent * f;
  bool tiled = false;
  VaeTiling::Method method = VaeTiling::Method::Auto;
  switch (mode) {
    case TilingMode::Off: break;
    case TilingMode::Auto: tiled = should_tile(vae, height, width, batch, device, dtype); break;
    case TilingMode::On: tiled = true; break;
    case TilingMode::Exact: tiled = true, method = VaeTiling::Method::Exact; break;
    case TilingMode::Blended: tiled = true, method = VaeTiling::Method::Blended; break;
  }
  std::int64_t bytes = 0;
  if (!tiled || fits_one_tile) {
    bytes = estimate_decode_bytes(vae, height, width, batch, dtype);
  } else {
    tiles.method = method;
    if (resolve_method(vae, height, width, batch, device, dtype, tiles) == VaeTiling::Method::Exact) {
      bytes = estimate_exact_tiled_bytes(vae, height, width, batch, dtype, tiles);
    } else {  // one tile at a time, the output and its weights accumulated at full size
      const auto side = tiles.tile_latent * f;
      bytes = estimate_decode_bytes(vae, side, side, batch, dtype) +
              2 * batch * 3 * height * width * static_cast<std::int64_t>(c10::elementSize(dtype));
    }
  }
  return bytes + 3 * batch * 3 * height * width * 4;  // the float image, scaled and clamped, then permuted
}

MemoryEstimate estimate_memory(const Request& req, const models::UNetConfig& unet, const models::Vae& vae,
                               int controlnets, int f, c10::Device device, at::ScalarType dtype, std::int64_t limit) {
  const auto e = c10::elementSize(dtype);
  const std::int64_t batch = req.batch_size;
  const std::int64_t rows = req.cfg_scale != 1.0 ? 2 * batch : batch;
  MemoryEstimate m;
  double work = 0;
  auto consider = [&](double bytes, const std::string& stage) {
    if (bytes > work) work = bytes, m.stage = stage;
  };
  auto step = [&](int width, int height, const std::string& what) {
    double bytes = static_cast<double>(unet_step_bytes(unet, height / f, width / f, rows, e));
    if (controlnets > 0)  // the residuals held through the UNet call (two sets while summing)
      bytes += (controlnets > 1 ? 2.0 : 1.0) *
               static_cast<double>(unet_step_bytes(unet, height / f, width / f, rows, e, true));
    consider(bytes, what + " at " + size_text(width, height) + " × " + std::to_string(rows) + " rows" +
                        (rows > batch ? " (batch " + std::to_string(batch) + ", doubled by CFG)" : ""));
  };
  auto vae_pass = [&](int width, int height, const std::string& what) {
    consider(static_cast<double>(decode_step_bytes(vae, height, width, batch, req.vae_tiling, device, dtype)),
             what + " at " + size_text(width, height) + " × batch " + std::to_string(batch));
  };
  step(req.width, req.height, "UNet step");
  if (req.has_init_image()) vae_pass(req.width, req.height, "VAE encode");
  if (req.has_hires()) {
    const auto plan = hires_plan(req, f);
    if (!req.hires_upscaler_model.empty()) {
      vae_pass(req.width, req.height, "VAE decode (before the hires upscaler)");
      vae_pass(plan.width, plan.height, "VAE encode (hires fix)");
    }
    step(plan.width, plan.height, "UNet step (hires fix)");
    vae_pass(plan.width, plan.height, "VAE decode");
  } else {
    vae_pass(req.width, req.height, "VAE decode");
  }
  m.work = static_cast<std::int64_t>(work * kWorkFactor);

  if (device.is_cuda()) {
    m.available = decode_budget(device);  // free + what the caching allocator holds unused
    m.available_from = "the GPU's free memory";
  } else {
    m.in_use = std::max<std::int64_t>(0, core::process_rss_bytes());
    const auto host = core::host_memory_available();
    m.available = host.available;
    m.available_from = host.source;
  }
  if (limit > 0) {
    const auto room = std::max<std::int64_t>(0, limit - m.in_use);
    if (m.available < 0 || room < m.available) {
      m.available = room;
      m.available_from = "memory_limit " + core::bytes_text(limit);
    }
  }
  return m;
}

void check_memory(const MemoryEstimate& e, const Request& req) {
  if (e.available < 0 || e.work <= e.available) return;
  std::string advice;
  if (req.batch_size > 1) advice += "a smaller batch_size (--batch-size; --batch-count runs batches one after another)";
  if (e.stage.find("VAE") != std::string::npos && req.vae_tiling != TilingMode::Blended)
    advice += std::string(advice.empty() ? "" : ", ") + "--vae-tiling blended";
  advice += std::string(advice.empty() ? "" : ", ") + "a smaller size";
  if (req.has_hires()) advice += " or hires target";
  fail(ErrorCode::OutOfMemory, "memory guard",
       "this request needs about " + core::bytes_text(e.peak()) + " (" + core::bytes_text(e.work) + " for its " +
           e.stage + (e.in_use > 0 ? " on top of the " + core::bytes_text(e.in_use) + " gen holds" : "") + "), but " +
           core::bytes_text(e.available) + " is available (" + e.available_from + "); try " + advice +
           ", or --no-memory-guard to run it anyway");
}

}  // namespace gen::pipeline
