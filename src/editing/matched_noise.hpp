// gen — A1111's "outpainting mk2" fill: noise shaped to the image's spectrum and matched to
// its colour histogram (stable-diffusion-webui scripts/outpainting_mk_2.py get_matched_noise,
// taken there from parlance-zz/g-diffuser-bot). docs/editing.md#outpainting gives the algorithm:
//  1. the image windowed by (1 − mask), normalised by its maximum, the masked area filled with
//     the mean of the whole canvas; its centred, orthonormal 2-D FFT per channel gives the
//     magnitude |S| and phase S/|S|;
//  2. uniform noise from numpy.random.default_rng(0) (fixed seed, as A1111), blended towards
//     its grey by 1 − color_variation, low-passed by the window 1/((x²+1)(y²+1)) in frequency;
//  3. its spectrum reshaped to |N|²·|S|^noise_q·(S/|S|), transformed back, scaled to [0, 1];
//  4. the masked pixels' values matched per channel to the histogram of the unmasked pixels
//     (scikit-image's match_histograms: numpy.interp of the cumulative distributions);
//  5. composited: image·(1 − mask) + noise·mask, clipped to [0, 1].
// mk2 stores the result as 8 bits by truncation (np.clip(x·255, 0, 255).astype(uint8)).
// Where A1111's arithmetic divides by zero (an all-black image; a frequency of magnitude 0)
// gen takes 0 instead of NaN.
#pragma once

#include "gen/image.hpp"

namespace at {
class Tensor;
}

namespace gen::editing {

struct MatchedNoiseOptions {
  double noise_q = 1.0;           // "Fall-off exponent (lower=higher detail)", 0..4
  double color_variation = 0.05;  // "Color variation", 0..1
};

// The float64 result [H, W, 3] in [0, 1] from the image and the mask as float64 [H, W, 3] in
// [0, 1] (mask 1 = to fill), exactly as get_matched_noise computes it.
at::Tensor matched_noise(const at::Tensor& image, const at::Tensor& mask_rgb, const MatchedNoiseOptions& options);

// The same on an 8-bit RGB canvas and an 8-bit one-channel mask (255 = to fill) of its size,
// stored in 8 bits as mk2 stores it.
Image matched_noise_fill(const Image& canvas, const Image& mask, const MatchedNoiseOptions& options);

}  // namespace gen::editing
