#include "pipeline/batch_runner.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/fail.hpp"
#include "gen/metadata.hpp"
#include "models/flops.hpp"
#include "pipeline/diagnose.hpp"
#include "pipeline/preview.hpp"
#include "request/request.hpp"

namespace gen::pipeline {
namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Tiling tiling_of(TilingMode m) {
  return m == TilingMode::Off ? Tiling::Off : m == TilingMode::Auto ? Tiling::Auto : Tiling::On;
}

VaeTiling tiles_of(TilingMode m) {
  VaeTiling tiles;
  if (m == TilingMode::Exact) tiles.method = VaeTiling::Method::Exact;
  if (m == TilingMode::Blended) tiles.method = VaeTiling::Method::Blended;
  return tiles;
}

}  // namespace

void run_batches(BatchJob& job, const Callbacks& callbacks, const std::atomic<bool>* cancel, Timings& timings,
                 std::string& stage) {
  const Request& req = *job.request;
  auto& d = job.denoise;
  const int preview_every = std::max(1, callbacks.preview_every);
  // The A1111 infotext names the schedule that --scheduler auto chose ("DPM++ 2M Karras"); the
  // request JSON beside it keeps "auto", as asked.
  std::optional<Request> shown;
  if (req.scheduler == Schedule::Auto) {
    shown = req;
    shown->scheduler = d.scheduler.use_karras_sigmas ? Schedule::Karras : Schedule::Normal;
  }
  // The A1111 text's hashes: the model's, the VAE's and the ControlNets' files (once per file
  // per process), the LoRAs and embeddings the engine used.
  request::InfotextExtras extras = request::file_hashes(req);
  extras.lora_hashes = job.lora_hashes;
  extras.ti_hashes = job.ti_hashes;
  const int passes = 1 + (job.refiner ? 1 : 0) + (job.hires ? 1 : 0);
  int pass = 0, pass_from = 0;  // the pass running, and the steps counted before it (a refiner goes on counting)
  for (int batch = 0; batch < req.batch_count; ++batch) {
    d.seed = *req.seed + static_cast<std::uint64_t>(batch) * static_cast<std::uint64_t>(req.batch_size);
    const auto t_batch = std::chrono::steady_clock::now();
    stage = "denoising (batch " + std::to_string(batch + 1) + ")";
    const double f_batch = models::flops::total();
    at::Tensor images;
    {
      c10::InferenceMode inference;
      auto on_step = [&](const StepInfo& info, const at::Tensor& x) {
        timings.steps = info.total;
        if (callbacks.on_progress) {
          Progress p;
          p.batch = batch;
          p.batches = req.batch_count;
          p.step = info.step;
          p.steps = info.total;
          p.seconds = since(t_batch);
          p.pass = pass;
          p.passes = passes;
          p.elapsed = since(job.started);
          const double in_pass = info.total > pass_from
                                     ? static_cast<double>(info.step - pass_from) / (info.total - pass_from)
                                     : 1.0;
          p.done = std::min(1.0, (batch + (pass + in_pass) / passes) / req.batch_count);
          callbacks.on_progress(p);
        }
        if (callbacks.on_preview && (info.step % preview_every == 0 || info.step == info.total)) {
          Preview p;
          p.batch = batch;
          p.step = info.step;
          p.steps = info.total;
          p.image = latent_preview(x[0]);
          if (!p.image.empty()) callbacks.on_preview(p);
        }
      };
      pass = pass_from = 0;
      auto state = prepare_latents(job.models, d);
      auto latents = denoise(job.models, d, state, job.negative, job.positive, on_step, cancel);
      if (job.refiner) {
        stage = "refining (batch " + std::to_string(batch + 1) + ")";
        pass_from = timings.steps;
        ++pass;
        latents = refiner_pass(*job.refiner, latents, std::move(state.generators), timings.steps, on_step, cancel);
      }
      if (job.hires) {
        stage = "hires fix (batch " + std::to_string(batch + 1) + ")";
        pass_from = 0;
        ++pass;
        latents = hires_pass(job.models, *job.hires, latents, d.seed, on_step, cancel);
      }
      if (!all_finite(latents)) diagnose_nonfinite("denoising", *job.base, job.controlnets);  // also waits for the GPU
      timings.denoise += since(t_batch);
      timings.flops_denoise += models::flops::total() - f_batch;
      const auto t_decode = std::chrono::steady_clock::now();
      stage = "VAE decoding (batch " + std::to_string(batch + 1) + ")";
      if (cancel && cancel->load()) fail(ErrorCode::Cancelled, "generation", "cancelled before decoding");
      const double f_decode = models::flops::total();
      images = decode(job.refiner ? job.refiner->models : job.models, latents, tiling_of(req.vae_tiling), tiles_of(req.vae_tiling), &timings.vae_decode)
                   .permute({0, 2, 3, 1})
                   .contiguous()
                   .to(at::kCPU, at::kFloat);
      timings.flops_decode += models::flops::total() - f_decode;
      if (!all_finite(images)) diagnose_nonfinite("VAE decode", *job.base, job.controlnets);
      timings.decode += since(t_decode);
    }
    const auto t_convert = std::chrono::steady_clock::now();
    for (int k = 0; k < req.batch_size; ++k) {
      GeneratedImage out;
      out.seed = d.seed + static_cast<std::uint64_t>(k);
      out.batch = batch;
      out.index_in_batch = k;
      out.index = batch * req.batch_size + k;
      auto hwc = images[k].contiguous();
      out.image = image_from_float_rgb(hwc.data_ptr<float>(), static_cast<int>(hwc.size(1)), static_cast<int>(hwc.size(0)));
      if (job.edit_images) out.image = finish_image(*job.edit_images, out.image);
      out.metadata = {{"parameters", request::a1111_parameters(shown ? *shown : req, out.seed, k, extras)},
                      {"gen", request::image_request_json(req, out.seed)}};
      ++timings.images;
      if (callbacks.on_image) callbacks.on_image(out);
    }
    timings.decode += since(t_convert);
  }
}

}  // namespace gen::pipeline
