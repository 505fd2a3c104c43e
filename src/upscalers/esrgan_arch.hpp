// gen — ESRGAN-family upscaler files (RRDBNet: ESRGAN, Real-ESRGAN, BSRGAN, 4x-UltraSharp-style
// community models) from their tensor names and shapes alone: torch-free (part of gen_io, so
// `gen inspect` and the classifier use it). The net itself is upscalers/esrgan_net.hpp.
//
// Layouts (docs/upscalers.md):
//   old      ESRGAN's original sequential names, the module names gen uses:
//            model.0 (conv_first), model.1.sub.<i>.RDB<k>.conv<j>.0 (block i, k = 1..3, j = 1..5),
//            model.1.sub.<i>.RDB<k>.conv1x1 (ESRGAN+ only), model.1.sub.<nb> (trunk conv),
//            model.<3u> (upsampling conv u = 1..n), model.<3n+2> (HR conv), model.<3n+4> (last conv)
//   basicsr  BasicSR / Real-ESRGAN: conv_first, body.<i>.rdb<k>.conv<j>, conv_body, conv_up<u>,
//            conv_hr, conv_last
//   bsrgan   BSRGAN / RealSR / older ESRGAN code: conv_first, RRDB_trunk.<i>.RDB<k>.conv<j>,
//            trunk_conv, upconv<u>, HRconv, conv_last
// The other two layouts reach the old names through ONE rename table (esrgan_name). A wrapper
// (params_ema, params, state_dict, ... as spandrel unwraps them) and a common `module.` /
// `netG.` prefix are stripped first.
//
// Hyper-parameters as spandrel 0.4.2 infers them (spandrel/architectures/ESRGAN): nf and in_nc
// from the first conv, out_nc from the last, nb from the highest block index, the net's scale
// 2^(number of upsampling convs), ESRGAN+ from conv1x1 tensors, and Real-ESRGAN's pixel-unshuffled
// input when in_nc is 4 or 16 times out_nc (x2 / x1 models: the image is unshuffled by 2 / 4
// first, so the file's scale is the net's divided by that factor).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gen::upscalers {

enum class EsrganLayout { Old, BasicSR, Bsrgan };
const char* layout_id(EsrganLayout layout) noexcept;  // "esrgan-old", "basicsr", "bsrgan"

struct EsrganConfig {
  EsrganLayout layout = EsrganLayout::Old;
  std::string prefix;       // stripped before the names: "params_ema.", "module.", ... or ""
  std::int64_t in_nc = 3, out_nc = 3;
  std::int64_t nf = 64;     // features (num_filters)
  std::int64_t nb = 23;     // RRDB blocks
  std::int64_t gc = 32;     // growth channels of the dense blocks
  int upsamples = 2;        // nearest ×2 + conv stages
  bool plus = false;        // ESRGAN+ (conv1x1 residual paths)
  int shuffle = 0;          // Real-ESRGAN pixel-unshuffle factor of the input (0: none, 2, 4)

  int net_scale() const { return 1 << upsamples; }
  // The file's scale: output size / input size.
  int scale() const { return shuffle ? net_scale() / shuffle : net_scale(); }
  // The image channels the file takes (in_nc before the unshuffle).
  std::int64_t image_channels() const { return shuffle ? in_nc / (shuffle * shuffle) : in_nc; }
  // "ESRGAN 4x, 64 nf, 23 blocks (BasicSR names)" and the like.
  std::string summary() const;
};

using ShapeMap = std::map<std::string, std::vector<std::int64_t>>;

// True when the names are an ESRGAN-family net's (in any layout, under any wrapper) — the marker
// tensors spandrel's detection asks for.
bool looks_like_esrgan(const ShapeMap& tensors);

// The configuration, or ModelMismatch / Unsupported naming `subject` (and what the file looks
// like) when the names or shapes do not make an RRDBNet gen can build: no ESRGAN marker, blocks or
// upsampling convs missing, shapes that disagree, a scale of 3 (upconv ×3 files) or over 16.
EsrganConfig infer_esrgan(const ShapeMap& tensors, const std::string& subject);

// The checkpoint name of the old-layout parameter `old_name` in `config`'s layout (the one rename
// table), without the prefix.
std::string esrgan_name(const EsrganConfig& config, const std::string& old_name);

}  // namespace gen::upscalers
