// Fused GroupNorm (+ SiLU) for channels-last activations.
// Pass 1: one block per (sample, group) reduces mean and variance (Welford, f32).
// Pass 2: one elementwise pass normalises, applies the affine and the SiLU.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "kernels.hpp"

namespace gen::kernels {
namespace {

constexpr int kStatThreads = 512;

struct Welford {
  float mean = 0.f, m2 = 0.f, count = 0.f;
  __device__ void add(float v) {
    count += 1.f;
    float d = v - mean;
    mean += d / count;
    m2 += d * (v - mean);
  }
  __device__ void merge(const Welford& o) {
    if (o.count == 0.f) return;
    if (count == 0.f) { *this = o; return; }
    float n = count + o.count;
    float d = o.mean - mean;
    mean += d * (o.count / n);
    m2 += o.m2 + d * d * (count * o.count / n);
    count = n;
  }
};

__device__ Welford shfl_down(const Welford& w, int offset) {
  Welford o;
  o.mean = __shfl_down_sync(0xffffffffu, w.mean, offset);
  o.m2 = __shfl_down_sync(0xffffffffu, w.m2, offset);
  o.count = __shfl_down_sync(0xffffffffu, w.count, offset);
  return o;
}

template <typename T>
__global__ void group_stats_kernel(const T* __restrict__ x, float* __restrict__ mean_out,
                                   float* __restrict__ rstd_out, int64_t hw, int64_t channels,
                                   int64_t group_channels, int64_t groups, float eps) {
  const int64_t g = blockIdx.x, n = blockIdx.y;
  const T* base = x + n * hw * channels + g * group_channels;
  const int64_t total = hw * group_channels;
  Welford w;
  for (int64_t e = threadIdx.x; e < total; e += blockDim.x) {
    const int64_t pixel = e / group_channels, c = e - pixel * group_channels;
    w.add(static_cast<float>(base[pixel * channels + c]));
  }
  for (int offset = 16; offset > 0; offset >>= 1) w.merge(shfl_down(w, offset));
  __shared__ Welford partial[kStatThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = w;
  __syncthreads();
  if (warp == 0) {
    w = lane < (blockDim.x >> 5) ? partial[lane] : Welford{};
    for (int offset = 16; offset > 0; offset >>= 1) w.merge(shfl_down(w, offset));
    if (lane == 0) {
      const float var = w.count > 0.f ? w.m2 / w.count : 0.f;
      mean_out[n * groups + g] = w.mean;
      rstd_out[n * groups + g] = rsqrtf(fmaxf(var, 0.f) + eps);
    }
  }
}

template <typename T, typename W>
__global__ void group_apply_kernel(const T* __restrict__ x, const W* __restrict__ weight,
                                   const W* __restrict__ bias, const float* __restrict__ mean,
                                   const float* __restrict__ rstd, T* __restrict__ y, int64_t numel,
                                   int64_t hw, int64_t channels, int64_t group_channels,
                                   int64_t groups, bool silu) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < numel;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = i % channels;
    const int64_t n = i / (hw * channels);
    const int64_t s = n * groups + c / group_channels;
    float v = (static_cast<float>(x[i]) - mean[s]) * rstd[s];
    v = v * static_cast<float>(weight[c]) + static_cast<float>(bias[c]);
    if (silu) v = v / (1.f + __expf(-v));
    y[i] = static_cast<T>(v);
  }
}

}  // namespace

bool available() noexcept { return true; }

at::Tensor group_norm_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           int64_t groups, double eps, bool silu) {
  TORCH_CHECK(x.is_cuda(), "group_norm_silu: input must be a CUDA tensor");
  TORCH_CHECK(x.dim() == 4, "group_norm_silu: input must be 4-D (N, C, H, W), got ", x.dim(), "-D");
  TORCH_CHECK(x.is_contiguous(at::MemoryFormat::ChannelsLast),
              "group_norm_silu: input must be channels-last contiguous");
  const auto st = x.scalar_type();
  TORCH_CHECK(st == at::kHalf || st == at::kBFloat16 || st == at::kFloat,
              "group_norm_silu: dtype must be f16, bf16 or f32, got ", st);
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  TORCH_CHECK(groups > 0 && c % groups == 0, "group_norm_silu: ", c,
              " channels do not split into ", groups, " groups");
  for (const at::Tensor* p : {&weight, &bias}) {
    TORCH_CHECK(p->device() == x.device(), "group_norm_silu: weight/bias on another device");
    TORCH_CHECK(p->dim() == 1 && p->size(0) == c && p->is_contiguous(),
                "group_norm_silu: weight/bias must be contiguous [", c, "]");
  }
  TORCH_CHECK(weight.scalar_type() == bias.scalar_type() &&
                  (weight.scalar_type() == st || weight.scalar_type() == at::kFloat),
              "group_norm_silu: weight/bias must be f32 or the input's dtype");
  auto y = at::empty_like(x, x.options(), at::MemoryFormat::ChannelsLast);
  if (x.numel() == 0) return y;
  auto stats = at::empty({2, n * groups}, x.options().dtype(at::kFloat));
  float* mean = stats.data_ptr<float>();
  float* rstd = mean + n * groups;
  const int64_t gc = c / groups;
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, st, "group_norm_silu", [&] {
    using T = scalar_t;
    dim3 grid(static_cast<unsigned>(groups), static_cast<unsigned>(n));
    group_stats_kernel<T><<<grid, kStatThreads, 0, stream>>>(x.data_ptr<T>(), mean, rstd, hw, c,
                                                             gc, groups, static_cast<float>(eps));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const int threads = 256;
    const int64_t blocks = std::min<int64_t>((x.numel() + threads - 1) / threads, 65535 * 8);
    if (weight.scalar_type() == at::kFloat) {
      group_apply_kernel<T, float><<<blocks, threads, 0, stream>>>(
          x.data_ptr<T>(), weight.data_ptr<float>(), bias.data_ptr<float>(), mean, rstd,
          y.data_ptr<T>(), x.numel(), hw, c, gc, groups, silu);
    } else {
      group_apply_kernel<T, T><<<blocks, threads, 0, stream>>>(
          x.data_ptr<T>(), weight.data_ptr<T>(), bias.data_ptr<T>(), mean, rstd, y.data_ptr<T>(),
          x.numel(), hw, c, gc, groups, silu);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return y;
}

}  // namespace gen::kernels
