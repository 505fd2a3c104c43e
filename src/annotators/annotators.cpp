#include "annotators/annotators.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/imgproc.hpp>

#include <filesystem>

#include "annotators/annotator_util.hpp"
#include "annotators/mlsd.hpp"
#include "annotators/model_free.hpp"
#include "annotators/unicontrol_prep.hpp"
#include "core/fail.hpp"

namespace gen::annotators {

void check_resolution(int resolution, const std::string& field) {
  if (resolution < 64 || resolution > 4096)
    fail(ErrorCode::InvalidArgument, field, std::to_string(resolution) + ": must be between 64 and 4096");
}

std::string Annotators::weights_path(const AnnotatorSpec& spec) const { return weights_path(spec, spec.info->weights); }

std::string Annotators::weights_path(const AnnotatorSpec& spec_in, const std::string& stem) const {
  namespace fs = std::filesystem;
  AnnotatorSpec spec = spec_in;
  if (stem != spec.info->weights && !spec.file.empty()) {  // another file beside the one given
    spec.file = (fs::path(spec.file).parent_path() / (stem + ".safetensors")).string();
    if (!fs::exists(spec.file)) fail(ErrorCode::NotFound, spec.file, std::string("not found: ") + spec.info->name +
                                                                         " looks for it beside " + spec_in.file);
  }
  const std::string name = spec.info->name;
  std::error_code ec;
  if (!spec.file.empty()) {
    if (!fs::exists(spec.file, ec))
      fail(ErrorCode::NotFound, spec.file, "the weight file given to " + name + " (file=) does not exist");
    const std::string ext = fs::path(spec.file).extension().string();
    if (ext == ".pth" || ext == ".pt" || ext == ".ckpt" || ext == ".bin")
      fail(ErrorCode::Unsupported, spec.file,
           "is a torch.save file, which " + name + " does not read: convert it once with `gen convert " + spec.file +
               " " + fs::path(spec.file).replace_extension(".safetensors").string() + "`");
    return spec.file;
  }
  // The releases are .pth files, MiDaS's and NormalBAE's .pt files (dpt_hybrid-midas-501f0c75.pt, scannet.pt).
  const std::string kind = spec.info->kind;
  const std::string orig = stem + (kind == "midas" || kind == "normalbae" ? ".pt" : ".pth");
  // Depth Anything V2 is not in lllyasviel/Annotators: its own repositories, or the -hf one's model.safetensors.
  const std::string hint =
      kind == "depth_anything"
          ? " (" + orig + " from depth-anything/Depth-Anything-V2-Large on Hugging Face, converted once with `gen convert " +
                orig + " " + stem + ".safetensors`, or Depth-Anything-V2-Large-hf's model.safetensors copied as " + stem +
                ".safetensors; docs/preprocessors.md)"
          : " (" + orig + " from lllyasviel/Annotators, converted once with `gen convert " + orig + " " + stem +
                ".safetensors`; docs/preprocessors.md)";
  if (dir_.empty())
    fail(ErrorCode::NotFound, name,
         "needs its weights " + stem + ".safetensors" + hint +
             ": give the folder with --annotator-dir or $GEN_ANNOTATOR_DIR, or the file with " + name + ":file=PATH");
  const fs::path st = fs::path(dir_) / (stem + ".safetensors");
  fs::path pth = fs::path(dir_) / (stem + ".pth");
  if (fs::exists(st, ec)) return st.string();
  if (!fs::exists(pth, ec)) pth = fs::path(dir_) / (stem + ".pt");
  if (fs::exists(pth, ec))
    fail(ErrorCode::Unsupported, pth.string(),
         "is a torch.save file, which " + name + " does not read: convert it once with `gen convert " + pth.string() +
             " " + st.string() + "`");
  fail(ErrorCode::NotFound, st.string(), "not found: " + name + " looks for " + stem + ".safetensors in the annotator folder " + dir_ + hint);
}

std::shared_ptr<Network> Annotators::network(const AnnotatorSpec& spec, c10::Device device) {
  if (device != cache_device_) {
    clear();
    cache_device_ = device;
  }
  const std::string path = weights_path(spec);
  const std::string kind = spec.info->kind, name = spec.info->name;
  return *cache_.get(path, [&](const std::string& p) { return load_network(kind, p, device, name); });
}

std::shared_ptr<Midas> Annotators::midas(const AnnotatorSpec& spec, c10::Device device) {
  if (device != cache_device_) {
    clear();
    cache_device_ = device;
  }
  return *midas_cache_.get(weights_path(spec), [&](const std::string& p) {
    return std::make_shared<Midas>(load_midas(p, device));
  });
}

std::shared_ptr<NormalBae> Annotators::normalbae(const AnnotatorSpec& spec, c10::Device device) {
  if (device != cache_device_) {
    clear();
    cache_device_ = device;
  }
  return *normalbae_cache_.get(weights_path(spec), [&](const std::string& p) {
    return std::make_shared<NormalBae>(load_normalbae(p, device));
  });
}

std::shared_ptr<DepthAnything> Annotators::depth_anything(const AnnotatorSpec& spec, c10::Device device) {
  if (device != cache_device_) {
    clear();
    cache_device_ = device;
  }
  return *depth_cache_.get(weights_path(spec), [&](const std::string& p) {
    return std::make_shared<DepthAnything>(load_depth_anything(p, device));
  });
}

OpenposeNets Annotators::openpose(const AnnotatorSpec& spec, const PoseOptions& options, c10::Device device) {
  if (device != cache_device_) {
    clear();
    cache_device_ = device;
  }
  OpenposeNets nets;
  nets.device = device;
  nets.body = *pose_body_.get(weights_path(spec), [&](const std::string& p) {
    return std::shared_ptr<OpenposeBodyNet>(load_openpose_body(p, device));
  });
  if (options.hand)
    nets.hand = *pose_cpm_.get(weights_path(spec, "hand_pose_model"), [&](const std::string& p) {
      return std::shared_ptr<OpenposeCpmNet>(load_openpose_hand(p, device));
    });
  if (options.face)
    nets.face = *pose_cpm_.get(weights_path(spec, "facenet"), [&](const std::string& p) {
      return std::shared_ptr<OpenposeCpmNet>(load_openpose_face(p, device));
    });
  return nets;
}

Image Annotators::run(const Image& rgb, const std::string& text, const RunSettings& s, const std::string& subject) {
  const auto spec = parse_annotator(text);
  check_resolution(s.resolution, "preprocess resolution");
  check_detect_size(rgb.width, rgb.height, s.resolution, subject);
  const std::string name = spec.info->name;
  const cv::Mat photo = to_mat(rgb);
  const cv::Mat input = resize_image(photo, s.resolution);
  if (name == "lineart_standard")
    return to_image(lineart_standard(input, spec.number("sigma"), spec.number("threshold"), photo.size()));
  if (name == "color") return to_image(color(input));
  // UniControl's preparations: the map at the detect size, as the reference's demos (unicontrol_prep.hpp).
  const auto number = [&](const char* key) { return static_cast<int>(spec.number(key)); };
  if (name == "unicontrol_grayscale") return to_image(unicontrol_grayscale(input));
  if (name == "unicontrol_blur") return to_image(unicontrol_blur(input, number("ksize")));
  if (name == "unicontrol_outpainting") return to_image(unicontrol_outpainting(input, number("height"), number("width")));
  if (name == "unicontrol_inpainting")
    return to_image(unicontrol_inpainting(input, number("top"), number("bottom"), number("left"), number("right")));
  // The networks' maps (and shuffle's) come out at resize_image(input, image_resolution)'s size.
  const cv::Size out_size = detect_size(input.cols, input.rows, s.resolution);
  cv::Mat map;
  if (spec.info->kind == std::string("openpose_body")) {  // OpenposeDetector: keypoints, then draw_poses at the detect size
    const PoseOptions options = pose_preset(name);
    const Poses poses = detect(openpose(spec, options, s.device), to_image(input), options);
    map = to_mat(draw_poses(poses, input.cols, input.rows, options.body, options.hand, options.face));
  } else if (name == "depth_anything") {  // relative depth, min-max to 0-255, grey as RGB (docs/depth.md)
    map = to_mat(depth_anything_map(*depth_anything(spec, s.device), to_image(input),
                                    static_cast<int>(spec.number("input"))));
  } else if (spec.info->kind == std::string("midas")) {  // MidasDetector: depth, or normals from it (docs/depth.md)
    const auto depth = midas_depth(*midas(spec, s.device), to_image(input));
    map = to_mat(name == "normal_midas" ? midas_normal_map(depth, spec.number("a"), spec.number("bg_th"))
                                        : midas_depth_map(depth));
  } else if (name == "normal_bae") {  // NormalBaeDetector: x, y, z as R, G, B (docs/preprocessors.md)
    map = to_mat(normalbae_detect(*normalbae(spec, s.device), to_image(input)));
  } else if (name == "shuffle") {
    const double seed = spec.number("seed");
    map = shuffle(input, seed >= 0 ? static_cast<std::uint32_t>(seed) : static_cast<std::uint32_t>(s.seed));
  } else {
    const auto net = network(spec, s.device);
    const std::string kind = spec.info->kind;
    std::vector<at::Tensor> outputs;
    {
      c10::InferenceMode guard;
      outputs = net->forward(network_input(kind, input, s.device));
    }
    cv::Mat one = kind == "mlsd" ? mlsd_draw(mlsd_lines(outputs.at(0), spec.number("score"), spec.number("distance")), input.size())
                                 : network_map(kind, outputs, input.size(), spec.has("safe"));
    cv::cvtColor(one, map, cv::COLOR_GRAY2RGB);  // HWC3
    if (name == "unicontrol_hedsketch")  // the HED map at the detect size, then the demo's sketch loop
      return to_image(unicontrol_sketch(map, number("threshold"), static_cast<std::uint32_t>(s.seed)));
  }
  cv::Mat out;
  cv::resize(map, out, out_size, 0, 0, cv::INTER_LINEAR);
  if (spec.info->kind == std::string("lineart") || spec.info->kind == std::string("lineart_anime")) out = cv::Scalar::all(255) - out;
  if (spec.has("scribble")) out = scribble(out);
  return to_image(out);
}

}  // namespace gen::annotators
