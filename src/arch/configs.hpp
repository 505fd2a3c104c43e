// gen — the configs models are built from, as plain structs without libtorch, so that the
// torch-free code that decides what a checkpoint is (arch/classify.hpp, arch/infer.hpp,
// io/model_plan.hpp) can fill them. The types keep the namespaces of the models that use
// them (models::UNetConfig, control::ControlNetConfig, ...); the modules are in
// models/unet.hpp, models/vae.hpp, models/clip_text.hpp and control/controlnet.hpp.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace gen::models {

// The attention of one transformer level.
struct AttentionOptions {
  std::int64_t heads = 8;
  std::int64_t head_dim = 40;
  bool upcast = false;  // compute attention in f32 for half-precision inputs (SD 2.x)
};

struct UNetConfig {
  std::int64_t in_channels = 4;
  std::int64_t out_channels = 4;
  std::int64_t model_channels = 320;
  std::vector<std::int64_t> channel_mult = {1, 2, 4, 4};
  std::int64_t num_res_blocks = 2;
  // Downsampling factors (1, 2, 4, …) at which levels carry a SpatialTransformer.
  std::vector<std::int64_t> attention_resolutions = {4, 2, 1};
  std::int64_t num_heads = 8;           // used when num_head_channels <= 0
  std::int64_t num_head_channels = -1;  // SD 2.x: 64
  std::int64_t transformer_depth = 1;
  std::int64_t context_dim = 768;
  bool use_linear_in_transformer = false;  // SD 2.x
  bool upcast_attention = false;           // SD 2.1 in half precision
  std::int64_t norm_groups = 32;

  static UNetConfig sd15();
  static UNetConfig sd21();
  // From a diffusers UNet2DConditionModel / ControlNetModel config.json.
  static UNetConfig from_diffusers(const nlohmann::json& config, const std::string& subject);
  AttentionOptions attention_at(std::int64_t channels) const;
  void validate(const std::string& subject) const;  // InvalidArgument when inconsistent
};

struct VaeConfig {
  std::int64_t in_channels = 3;
  std::int64_t out_channels = 3;
  std::int64_t latent_channels = 4;
  std::int64_t channels = 128;
  std::vector<std::int64_t> channel_mult = {1, 2, 4, 4};
  std::int64_t num_res_blocks = 2;
  std::int64_t norm_groups = 32;
  double scaling_factor = 0.18215;

  static VaeConfig sd();
  // From a diffusers AutoencoderKL config.json.
  static VaeConfig from_diffusers(const nlohmann::json& config, const std::string& subject);
};

struct ClipTextConfig {
  enum class Layout { HuggingFace, OpenClip };
  Layout layout = Layout::HuggingFace;
  std::int64_t vocab_size = 49408;
  std::int64_t max_positions = 77;
  std::int64_t width = 768;
  std::int64_t layers = 12;
  std::int64_t heads = 12;
  std::int64_t ff_dim = 3072;
  bool quick_gelu = true;  // SD 1.x: quick_gelu; OpenCLIP ViT-H: gelu
  double eps = 1e-5;

  static ClipTextConfig sd15();
  static ClipTextConfig sd21();  // OpenCLIP ViT-H/14 text tower (24 layers, width 1024)
  // From a transformers CLIPTextConfig (text_encoder/config.json).
  static ClipTextConfig from_transformers(const nlohmann::json& config, const std::string& subject);
};

}  // namespace gen::models

namespace gen::control {

struct ControlNetConfig {
  models::UNetConfig unet;  // the encoder half's shape (in_channels = latent channels)
  std::int64_t hint_channels = 3;
  std::vector<std::int64_t> hint_block_channels = {16, 32, 96, 256};
  bool global_average_pooling = false;  // shuffle-style models: residuals averaged over H×W

  static ControlNetConfig sd15();
  // From a diffusers ControlNetModel config.json.
  static ControlNetConfig from_diffusers(const nlohmann::json& config, const std::string& subject);
};

}  // namespace gen::control
