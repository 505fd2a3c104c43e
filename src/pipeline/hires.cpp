#include "pipeline/hires.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "core/fail.hpp"
#include "editing/mask_ops.hpp"
#include "models/vae.hpp"
#include "upscalers/esrgan_net.hpp"
#include "upscalers/tiled_upscale.hpp"

namespace gen::pipeline {

HiresPlan hires_plan(const Request& r, int f) {
  HiresPlan p;
  const int w = r.width, h = r.height;
  int target_w = 0, target_h = 0;
  if (r.hires_scale > 0) {  // int(width × hr_scale)
    p.to_width = static_cast<int>(w * r.hires_scale);
    p.to_height = static_cast<int>(h * r.hires_scale);
  } else if (r.hires_height == 0) {
    p.to_width = r.hires_width;
    p.to_height = r.hires_width * h / w;
  } else if (r.hires_width == 0) {
    p.to_width = r.hires_height * w / h;
    p.to_height = r.hires_height;
  } else {  // both: cover the target keeping the aspect, then cut the latents to it
    target_w = r.hires_width;
    target_h = r.hires_height;
    if (static_cast<double>(w) / h < static_cast<double>(target_w) / target_h) {
      p.to_width = target_w;
      p.to_height = target_w * h / w;
    } else {
      p.to_width = target_h * w / h;
      p.to_height = target_h;
    }
    p.trunc_x = (p.to_width - target_w) / f;
    p.trunc_y = (p.to_height - target_h) / f;
  }
  p.latent_width = p.to_width / f;
  p.latent_height = p.to_height / f;
  p.width = (p.latent_width - p.trunc_x) * f;
  p.height = (p.latent_height - p.trunc_y) * f;
  if (p.width < f || p.height < f || p.width > 16384 || p.height > 16384)
    fail(ErrorCode::InvalidArgument, r.hires_scale > 0 ? "hires_scale" : "hires_width",
         "the hires target " + std::to_string(p.to_width) + "x" + std::to_string(p.to_height) +
             " is outside " + std::to_string(f) + "..16384 pixels a side");
  return p;
}

at::Tensor upscale_latents(const at::Tensor& x, const HiresPlan& p, HiresUpscaler u) {
  const std::vector<std::int64_t> size{p.latent_height, p.latent_width};
  at::Tensor y;
  switch (u) {  // torch.nn.functional.interpolate(x, size, mode, align_corners=None, antialias)
    case HiresUpscaler::Latent: y = at::upsample_bilinear2d(x, size, false); break;
    case HiresUpscaler::LatentAntialiased: y = at::_upsample_bilinear2d_aa(x, size, false); break;
    case HiresUpscaler::LatentBicubic: y = at::upsample_bicubic2d(x, size, false); break;
    case HiresUpscaler::LatentBicubicAntialiased: y = at::_upsample_bicubic2d_aa(x, size, false); break;
    case HiresUpscaler::LatentNearest: y = at::upsample_nearest2d(x, size); break;
    case HiresUpscaler::LatentNearestExact: y = at::_upsample_nearest_exact2d(x, size); break;
    case HiresUpscaler::Lanczos: fail(ErrorCode::Internal, "hires", "lanczos is not a latent upscaler");
  }
  return truncate_latents(y, p);
}

at::Tensor truncate_latents(const at::Tensor& y, const HiresPlan& p) {
  // A1111: samples[:, :, ty // 2 : H − (ty + 1) // 2, tx // 2 : W − (tx + 1) // 2]
  if (!p.trunc_x && !p.trunc_y) return y.contiguous();
  return y.slice(2, p.trunc_y / 2, y.size(2) - (p.trunc_y + 1) / 2)
      .slice(3, p.trunc_x / 2, y.size(3) - (p.trunc_x + 1) / 2)
      .contiguous();
}

namespace {

// The Lanczos upscaler: the first pass decoded to 8 bits as A1111 does (255 · x truncated),
// resized with Pillow's Lanczos to hr_upscale_to_x × hr_upscale_to_y (p.to_width × p.to_height,
// which need not be multiples of 8 and, with both sides given, covers the target), back to
// [-1, 1]. With a net: first upscaled by it as A1111's images.resize_image(0, …) does
// (Upscaler.upscale by max(to_width / W, to_height / H) when that is above 1), then resized.
// The VAE encodes that whole image; the caller cuts the latents (A1111's sample_hr_pass).
at::Tensor lanczos_images(const Models& m, const at::Tensor& latents, const HiresPlan& p,
                          const upscalers::EsrganNet* net) {
  auto images = decode(m, latents).mul(255.0).to(at::kByte).permute({0, 2, 3, 1}).contiguous().to(at::kCPU);
  std::vector<at::Tensor> out;
  for (std::int64_t k = 0; k < images.size(0); ++k) {
    Image img = Image::make(static_cast<int>(images.size(2)), static_cast<int>(images.size(1)), 3);
    std::memcpy(img.data8.data(), images[k].data_ptr<std::uint8_t>(), img.data8.size());
    const double scale = std::max(static_cast<double>(p.to_width) / img.width, static_cast<double>(p.to_height) / img.height);
    if (net && scale > 1.0) img = upscalers::upscale_to_scale(img, scale, upscalers::esrgan_tile_net(*net, m.dtype, m.device));
    const Image big = editing::resize_mode(img, p.to_width, p.to_height, editing::ResizeMode::Default, "hires");
    auto t = at::from_blob(const_cast<std::uint8_t*>(big.data8.data()), {big.height, big.width, 3}, at::kByte);
    out.push_back(t.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).div(255.0).mul(2.0).sub(1.0));
  }
  return at::cat(out, 0);
}

}  // namespace

std::pair<at::Tensor, at::Tensor> hires_pixel_posterior(const Models& m, const at::Tensor& latents, const HiresPlan& p,
                                                        const upscalers::EsrganNet* net) {
  auto x = lanczos_images(m, latents, p, net).to(m.device, m.dtype);
  if (m.vae_channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  auto [mean, logvar] = m.vae->encode(x);
  // A1111 samples the posterior of the whole image, then cuts; cutting the mean and the
  // deviation first gives the same distribution and keeps gen's draw order.
  return {truncate_latents(mean, p), truncate_latents(at::exp(0.5 * logvar), p)};
}

at::Tensor hires_pass(const Models& m, const HiresJob& job, const at::Tensor& latents, std::uint64_t seed,
                      const StepCallback& on_step, const std::atomic<bool>* cancel) {
  EditInputs e;
  e.strength = job.strength;
  e.convention = StrengthSteps::A1111Fixed;  // A1111 passes the hires steps: exactly that many run
  e.scaling = m.vae->config().scaling_factor;
  if (job.upscaler == HiresUpscaler::Lanczos || job.net) {
    std::tie(e.mean, e.std) = hires_pixel_posterior(m, latents, job.plan, job.net);
  } else {
    e.given = upscale_latents(latents.to(at::kFloat), job.plan, job.upscaler).to(m.dtype);
  }
  DenoiseRequest d = job.denoise;
  d.seed = seed;
  d.batch_size = static_cast<int>(latents.size(0));
  d.edit = &e;
  auto state = prepare_latents(m, d);
  return denoise(m, d, state, job.negative, job.positive, on_step, cancel);
}

}  // namespace gen::pipeline
