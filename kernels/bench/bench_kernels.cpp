// gen_bench_kernels: micro-benchmark of the custom CUDA kernels against the ATen paths they
// replace, on the shapes SD 1.5 gives them (UNet at 512x512 with CFG, VAE decode to 512x512).
// Each case: 5 warm-up calls, then `--repeats` timings of `--iters` calls between two CUDA
// events; the median per call is reported, with the kernel's maximum difference from ATen.
//
//   gen_bench_kernels [--iters 50] [--repeats 5] [--json]
//
// A kernel stays in gen only if it wins here (docs/performance.md records the verdict).
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels.hpp"

namespace {

struct Shape {
  const char* where;
  std::int64_t n, c, h, w;
};

// GroupNorm(+SiLU) inputs: the UNet's resnet blocks at 64/32/16/8 latents (batch 2 for CFG,
// the decoder's concatenated skips included) and the VAE decoder's up to 512x512.
const std::vector<Shape> kShapes = {
    {"unet 64x64 320", 2, 320, 64, 64},    {"unet 64x64 640 (up cat)", 2, 640, 64, 64},
    {"unet 32x32 640", 2, 640, 32, 32},    {"unet 32x32 960 (up cat)", 2, 960, 32, 32},
    {"unet 16x16 1280", 2, 1280, 16, 16},  {"unet 16x16 1920 (up cat)", 2, 1920, 16, 16},
    {"unet 8x8 1280", 2, 1280, 8, 8},      {"unet 8x8 2560 (up cat)", 2, 2560, 8, 8},
    {"vae 64x64 512", 1, 512, 64, 64},     {"vae 128x128 512", 1, 512, 128, 128},
    {"vae 256x256 512", 1, 512, 256, 256}, {"vae 256x256 256", 1, 256, 256, 256},
    {"vae 512x512 256", 1, 256, 512, 512}, {"vae 512x512 128", 1, 128, 512, 512},
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Median seconds per call of f.
double time_it(const std::function<at::Tensor()>& f, int iters, int repeats) {
  for (int i = 0; i < 5; ++i) (void)f();
  gen::kernels::cuda_synchronize();
  std::vector<double> per_call;
  for (int r = 0; r < repeats; ++r) {
    gen::kernels::Timeline t(true);
    t.mark();
    for (int i = 0; i < iters; ++i) (void)f();
    t.mark();
    per_call.push_back(t.intervals().at(0) / iters);
  }
  return median(per_call);
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 50, repeats = 5;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--iters") && i + 1 < argc) iters = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--json")) json = true;
    else {
      std::fprintf(stderr, "usage: gen_bench_kernels [--iters N] [--repeats N] [--json]\n");
      return 2;
    }
  }
  if (!gen::kernels::available() || !at::hasCUDA()) {
    std::fprintf(stderr, "gen_bench_kernels: needs a CUDA GPU and a build with the CUDA kernels\n");
    return 1;
  }
  at::manual_seed(0);
  nlohmann::json report = {{"schema", "gen.bench_kernels/1"}, {"iters", iters}, {"repeats", repeats}};
  std::vector<double> speedups;
  if (!json)
    std::printf("%-26s %-5s %-5s %11s %11s %11s %8s %9s\n", "group_norm(+silu) shape", "dtype", "silu",
                "ATen NHWC", "ATen NCHW", "kernel", "speedup", "max diff");
  for (auto dtype : {at::kHalf, at::kBFloat16}) {
    for (const auto& s : kShapes) {
      for (bool silu : {true, false}) {
        auto opts = at::TensorOptions().device(at::kCUDA).dtype(dtype);
        auto nhwc = at::randn({s.n, s.c, s.h, s.w}, opts).contiguous(at::MemoryFormat::ChannelsLast);
        auto nchw = nhwc.contiguous();
        auto w = at::randn({s.c}, opts), b = at::randn({s.c}, opts);
        auto aten = [&](const at::Tensor& x) {
          auto y = at::group_norm(x, 32, w, b, 1e-5);
          return silu ? at::silu(y) : y;
        };
        const double t_nhwc = time_it([&] { return aten(nhwc); }, iters, repeats);
        const double t_nchw = time_it([&] { return aten(nchw); }, iters, repeats);
        const double t_kernel =
            time_it([&] { return gen::kernels::group_norm_silu(nhwc, w, b, 32, 1e-5, silu); }, iters, repeats);
        const double diff =
            (gen::kernels::group_norm_silu(nhwc, w, b, 32, 1e-5, silu).to(at::kFloat) - aten(nhwc).to(at::kFloat))
                .abs()
                .max()
                .item<double>();
        const double speedup = t_nhwc / t_kernel;
        speedups.push_back(speedup);
        const std::string dt = dtype == at::kHalf ? "fp16" : "bf16";
        report["cases"].push_back({{"shape", {s.n, s.c, s.h, s.w}}, {"where", s.where}, {"dtype", dt}, {"silu", silu},
                                   {"aten_nhwc_s", t_nhwc}, {"aten_nchw_s", t_nchw}, {"kernel_s", t_kernel},
                                   {"speedup_vs_nhwc", speedup}, {"max_abs_diff", diff}});
        if (!json)
          std::printf("%-26s %-5s %-5s %9.1f us %9.1f us %9.1f us %7.2fx %9.2e\n", s.where, dt.c_str(),
                      silu ? "yes" : "no", t_nhwc * 1e6, t_nchw * 1e6, t_kernel * 1e6, speedup, diff);
      }
    }
  }
  double log_sum = 0;
  for (double v : speedups) log_sum += std::log(v);
  const double geomean = std::exp(log_sum / static_cast<double>(speedups.size()));
  const auto wins = std::count_if(speedups.begin(), speedups.end(), [](double v) { return v > 1.0; });
  report["geomean_speedup"] = geomean;
  report["wins"] = wins;
  report["cases_total"] = speedups.size();
  if (json)
    std::printf("%s\n", report.dump(1).c_str());
  else
    std::printf("\nkernel faster than ATen (channels-last input) in %ld of %zu cases; geometric mean speed-up %.2fx\n",
                static_cast<long>(wins), speedups.size(), geomean);
  return 0;
}
