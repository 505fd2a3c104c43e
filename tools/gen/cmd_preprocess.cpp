// gen preprocess: write the control map gen would feed a ControlNet, for inspection.
#include <sys/stat.h>
#include <cstdio>

#include "annotators/registry.hpp"
#include "commands.hpp"
#include "gen/control.hpp"
#include "gen/engine.hpp"
#include "core/fail.hpp"
#include "gen/image.hpp"
#include "request_options.hpp"

namespace gen::cli {

Command register_preprocess(CLI::App& app) {
  struct Opts {
    std::string image, output, preprocess = "none";
    ResizeMode resize = ResizeMode::Just;
    int width = 512, height = 512;
    PreprocessOptions annotate;
    std::uint64_t seed = 0;
    bool overwrite = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("preprocess", "Write the control map gen would use for an image");
  sub->add_option("IMAGE", o->image, "The control image (PNG/JPEG)")->required();
  sub->add_option("-o,--output", o->output, "The map to write (PNG)")->required();
  // The annotators' names and options from their one table (annotators/registry.cpp).
  sub->add_option("--preprocess", o->preprocess,
                  "none, canny:LOW:HIGH, invert, threshold:T, tile_resample:R, or an annotator: " +
                      annotators::annotator_names_text() + " (docs/preprocessors.md)")
      ->capture_default_str();
  sub->add_option("--preprocess-resolution", o->annotate.resolution,
                  "Annotators: the photo's short side for detection and the map's (64-4096)")
      ->capture_default_str();
  sub->add_option("--annotator-dir", o->annotate.annotator_dir,
                  "Where annotators find their weights (default: $GEN_ANNOTATOR_DIR)");
  sub->add_option("--seed", o->seed, "shuffle's seed when the spec gives none")->capture_default_str();
  add_choice(*sub, "--device", o->annotate.device, "Where annotator networks run: cpu (default), cuda or auto");
  add_choice(*sub, "--control-resize", o->resize, "just, crop or fill");
  sub->add_option("-W,--width", o->width, "Output width (the generation's)")->capture_default_str();
  sub->add_option("-H,--height", o->height, "Output height (the generation's)")->capture_default_str();
  sub->add_flag("--overwrite", o->overwrite, "Replace an existing output file");
  return {sub, [o] {
            for (auto [name, v] : {std::pair{"--width", o->width}, std::pair{"--height", o->height}})
              if (v < 8 || v > 16384 || v % 8)
                fail(ErrorCode::InvalidArgument, name, std::to_string(v) + ": must be a multiple of 8 between 8 and 16384");
            if (o->preprocess == "inpaint_only")
              fail(ErrorCode::InvalidArgument, "--preprocess",
                   "inpaint_only masks the init image with the request's mask: use it in a --control group beside "
                   "--init-image and --mask (docs/editing.md)");
            struct stat st {};
            if (!o->overwrite && ::lstat(o->output.c_str(), &st) == 0 && S_ISREG(st.st_mode))  // (others: refused below)
              fail(ErrorCode::InvalidArgument, o->output, "exists: pass --overwrite to replace it");
            if (o->annotate.annotator_dir.empty())  // $GEN_ANNOTATOR_DIR when --annotator-dir is not given
              o->annotate.annotator_dir = folder_from_env("GEN_ANNOTATOR_DIR", "annotator");
            o->annotate.seed = o->seed;
            auto map = control_map(o->image, o->preprocess, o->resize, o->width, o->height, o->annotate);
            write_png(o->output, map, {{"gen-preprocess", o->preprocess + " " + name_of(o->resize)}});
            std::printf("%s\n", o->output.c_str());
            return 0;
          }};
}

}  // namespace gen::cli
