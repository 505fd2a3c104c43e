// gen pose: OpenPose keypoints (body, hands, face) from a picture, as a skeleton map and as
// OpenPose JSON; and a skeleton map drawn from such a JSON file (docs/pose.md).
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "commands.hpp"
#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "core/files.hpp"
#include "gen/image.hpp"
#include "gen/pose.hpp"

namespace gen::cli {
namespace {

void refuse_existing(const std::string& path, bool overwrite) {
  struct stat st {};
  if (!path.empty() && !overwrite && ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    fail(ErrorCode::InvalidArgument, path, "exists: pass --overwrite to replace it");
}

void write_text(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

constexpr std::size_t kMaxPoseJson = std::size_t{64} << 20;

}  // namespace

Command register_pose(CLI::App& app) {
  struct Opts {
    std::string image, output, json, body, hand, face, preset, device = "cpu";
    int detect_resolution = 512;
    std::string pose_json, draw_output;
    int width = 0, height = 0;
    bool overwrite = false, no_body = false, no_hand = false, no_face = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("pose", "OpenPose keypoints: detect them in a picture, or draw a pose JSON");
  sub->require_subcommand(1);

  auto* det = sub->add_subcommand("detect", "Find people (body, hands, face) and write the skeleton map and JSON");
  det->add_option("IMAGE", o->image, "The picture (PNG/JPEG)")->required();
  det->add_option("-o,--output", o->output, "The skeleton map to write (PNG)")->required();
  det->add_option("--json", o->json, "Also write the keypoints as OpenPose JSON");
  det->add_option("--body", o->body, "body_pose_model.pth (or .safetensors)")->required();
  det->add_option("--hand", o->hand, "hand_pose_model.pth: also find hands");
  det->add_option("--face", o->face, "facenet.pth: also find faces");
  det->add_option("--preset", o->preset,
                  "openpose, openpose_hand, openpose_face or openpose_full (default: from the files given)");
  det->add_option("--detect-resolution", o->detect_resolution, "Short side the picture is resized to (×64)")
      ->capture_default_str();
  det->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  det->add_flag("--overwrite", o->overwrite, "Replace existing output files");

  auto* draw = sub->add_subcommand("draw", "Draw the skeleton map of an OpenPose JSON file");
  draw->add_option("POSE", o->pose_json, "The pose (OpenPose JSON)")->required();
  draw->add_option("-o,--output", o->draw_output, "The skeleton map to write (PNG)")->required();
  auto* wopt = draw->add_option("-W,--width", o->width, "Map width (default: the JSON's canvas_width)");
  auto* hopt = draw->add_option("-H,--height", o->height, "Map height (default: the JSON's canvas_height)");
  draw->add_flag("--no-body", o->no_body, "Leave the body out");
  draw->add_flag("--no-hand", o->no_hand, "Leave the hands out");
  draw->add_flag("--no-face", o->no_face, "Leave the face out");
  draw->add_flag("--overwrite", o->overwrite, "Replace an existing output file");

  return {sub, [o, det, wopt, hopt] {
            if (det->parsed()) {
              PoseOptions opt;
              if (o->preset.empty()) {
                opt.hand = !o->hand.empty();
                opt.face = !o->face.empty();
              } else {
                opt = pose_preset(o->preset);
              }
              opt.device = o->device;
              if (!o->json.empty() && o->json == o->output)
                fail(ErrorCode::InvalidArgument, "--json", "the same file as --output");
              refuse_existing(o->output, o->overwrite);
              refuse_existing(o->json, o->overwrite);
              const Image picture = resize_for_detection(read_image(o->image), o->detect_resolution);
              Poses poses = detect_poses({o->body, o->hand, o->face}, picture, opt);
              const Image map = draw_poses(poses, picture.width, picture.height, opt.body, opt.hand, opt.face);
              const std::string text = poses_to_json(poses);
              if (!o->json.empty()) write_text(o->json, text);
              write_png(o->output, map, {{"gen-pose", text}});
              std::printf("%s: %zu people\n", o->output.c_str(), poses.people.size());
              return 0;
            }
            const std::string text = core::read_input(o->pose_json, kMaxPoseJson, "pose JSON file");
            const Poses poses = poses_from_json(text, o->pose_json);
            const int w = wopt->count() ? o->width : poses.width, h = hopt->count() ? o->height : poses.height;
            for (auto [name, v] : {std::pair{"--width", w}, std::pair{"--height", h}})
              if (v < 1 || v > 16384)
                fail(ErrorCode::InvalidArgument, name, std::to_string(v) + ": must be between 1 and 16384");
            refuse_existing(o->draw_output, o->overwrite);
            const Image map = draw_poses(poses, w, h, !o->no_body, !o->no_hand, !o->no_face);
            write_png(o->draw_output, map);
            std::printf("%s\n", o->draw_output.c_str());
            return 0;
          }};
}

}  // namespace gen::cli
