// gen upscale: an image upscaled by an ESRGAN-family net in A1111's tiles (docs/upscalers.md).
#include <sys/stat.h>
#include <cstdio>

#include "commands.hpp"
#include "core/fail.hpp"
#include "gen/image.hpp"
#include "gen/upscale.hpp"
#include "request_options.hpp"

namespace gen::cli {

Command register_upscale(CLI::App& app) {
  struct Opts {
    std::string image, output;
    UpscaleOptions u;
    bool overwrite = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("upscale", "Upscale an image with an ESRGAN-family net (.pth / .safetensors)");
  sub->add_option("IMAGE", o->image, "The image (PNG/JPEG)")->required();
  sub->add_option("-o,--output", o->output, "The upscaled image to write (PNG)")->required();
  sub->add_option("--model", o->u.model, "The upscaler: ESRGAN, Real-ESRGAN, BSRGAN, 4x-UltraSharp-style RRDBNet file")
      ->required();
  sub->add_option("--scale", o->u.scale,
                  "Final scale: the net repeated until it covers the size, then Lanczos, as A1111 (0: one pass, the "
                  "net's own factor)")
      ->capture_default_str();
  sub->add_option("--tile", o->u.tile, "Tile size in pixels (0: the whole image at once)")->capture_default_str();
  sub->add_option("--tile-overlap", o->u.overlap, "Tile overlap in pixels")->capture_default_str();
  add_choice(*sub, "--device", o->u.device, "auto, cpu or cuda");
  add_choice(*sub, "--dtype", o->u.dtype, "auto (fp16 on CUDA, fp32 on the CPU), fp32, fp16 or bf16");
  sub->add_flag("--overwrite", o->overwrite, "Replace an existing output file");
  return {sub, [o] {
            struct stat st {};
            if (!o->overwrite && ::lstat(o->output.c_str(), &st) == 0 && S_ISREG(st.st_mode))
              fail(ErrorCode::InvalidArgument, o->output, "exists: pass --overwrite to replace it");
            const Image in = read_image(o->image);
            const Image out = upscale_image(in, o->u);
            write_png(o->output, out, {{"gen-upscale", o->u.model}});  // atomic (temporary file, rename)
            std::printf("%s\n", o->output.c_str());
            return 0;
          }};
}

}  // namespace gen::cli
