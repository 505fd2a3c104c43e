// gen — running an annotator: the photo (8-bit RGB, any size) → the 8-bit RGB map, as
// controlnet-aux 0.0.10's detector of that name makes it with detect_resolution =
// image_resolution = `resolution` (the map is at util.resize_image's size of that resolution;
// lineart_standard's at the photo's size). Weights are found by name in the annotator folder
// (EngineOptions::annotator_dir; the CLI's --annotator-dir / $GEN_ANNOTATOR_DIR) or given
// with `:file=PATH`, loaded once and kept (one Annotators per engine). docs/preprocessors.md.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <string>

#include "annotators/depth_anything.hpp"
#include "annotators/midas.hpp"
#include "annotators/networks.hpp"
#include "annotators/normalbae.hpp"
#include "annotators/openpose.hpp"
#include "annotators/registry.hpp"
#include "core/file_cache.hpp"
#include "gen/image.hpp"

namespace gen::annotators {

struct RunSettings {
  int resolution = 512;      // detect (and image) resolution, 64-4096
  std::uint64_t seed = 0;    // shuffle without seed=: its low 32 bits
  c10::Device device = c10::Device(c10::kCPU);
};

class Annotators {
 public:
  explicit Annotators(std::string dir = "") : dir_(std::move(dir)) {}
  void set_dir(const std::string& dir) { dir_ = dir; }

  // Refuses (InvalidArgument naming `subject`) images too small or too large for the resolution.
  Image run(const Image& rgb, const std::string& spec, const RunSettings& settings, const std::string& subject);
  // The weight file of a parsed spec: file= as given, else <dir>/<stem>.safetensors. NotFound
  // naming the file and where gen looked; Unsupported with the `gen convert` command when only
  // the original .pth is there.
  std::string weights_path(const AnnotatorSpec& spec) const;
  // The loaded network (cached by file identity and device).
  std::shared_ptr<Network> network(const AnnotatorSpec& spec, c10::Device device);
  // Depth Anything V2 (its own model type), cached the same way.
  std::shared_ptr<DepthAnything> depth_anything(const AnnotatorSpec& spec, c10::Device device);
  // MiDaS DPT-Hybrid (midas, normal_midas), cached the same way.
  std::shared_ptr<Midas> midas(const AnnotatorSpec& spec, c10::Device device);
  // NormalBAE (normal_bae), cached the same way.
  std::shared_ptr<NormalBae> normalbae(const AnnotatorSpec& spec, c10::Device device);
  // OpenPose: the body net (spec's file= or body_pose_model in the folder) and, as the preset
  // asks, hand_pose_model / facenet from the same folder; each net cached on its own.
  OpenposeNets openpose(const AnnotatorSpec& spec, const PoseOptions& options, c10::Device device);
  void clear() {
    cache_.clear();
    depth_cache_.clear();
    midas_cache_.clear();
    normalbae_cache_.clear();
    pose_body_.clear();
    pose_cpm_.clear();
  }

 private:
  std::string dir_;
  core::FileCache<std::shared_ptr<Network>> cache_{4};
  core::FileCache<std::shared_ptr<DepthAnything>> depth_cache_{2};
  core::FileCache<std::shared_ptr<Midas>> midas_cache_{1};
  core::FileCache<std::shared_ptr<NormalBae>> normalbae_cache_{1};
  core::FileCache<std::shared_ptr<OpenposeBodyNet>> pose_body_{1};
  core::FileCache<std::shared_ptr<OpenposeCpmNet>> pose_cpm_{2};  // hand and face
  // weights_path for another stem of the same annotator (OpenPose's hand and face files).
  std::string weights_path(const AnnotatorSpec& spec, const std::string& stem) const;
  c10::Device cache_device_ = c10::Device(c10::kCPU);
};

// The resolution's range check (InvalidArgument naming `field`).
void check_resolution(int resolution, const std::string& field);

}  // namespace gen::annotators
