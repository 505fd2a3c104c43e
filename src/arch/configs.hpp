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
  std::int64_t model_channels = 320;  // conv_in's output; the timestep embedding is 4× this
  // Each level's channels (LDM: model_channels × channel_mult; diffusers: block_out_channels,
  // any list).
  std::vector<std::int64_t> block_channels = {320, 640, 1280, 1280};
  std::int64_t num_res_blocks = 2;
  // Downsampling factors (1, 2, 4, …) at which levels carry a SpatialTransformer.
  std::vector<std::int64_t> attention_resolutions = {4, 2, 1};
  // Heads, LDM style (one rule for every level): num_heads, or channels / num_head_channels.
  std::int64_t num_heads = 8;           // used when num_head_channels <= 0
  std::int64_t num_head_channels = -1;  // SD 2.x: 64
  // Heads, diffusers style: one count per level (the middle block takes the last), each head
  // channels / count wide (rounded down, as diffusers). Empty: the LDM rule above.
  std::vector<std::int64_t> level_heads;
  // Transformer depth: `transformer_depth` everywhere unless the per-level lists say otherwise:
  // level_depth per down level (the middle block takes the last, unless mid_depth > 0),
  // up_level_depth per up block in up order (deepest level first; empty: level_depth's).
  std::int64_t transformer_depth = 1;
  std::vector<std::int64_t> level_depth;
  std::vector<std::int64_t> up_level_depth;
  std::int64_t mid_depth = 0;
  std::int64_t context_dim = 768;
  bool use_linear_in_transformer = false;  // SD 2.x
  bool upcast_attention = false;           // SD 2.1 in half precision
  std::int64_t norm_groups = 32;
  // The added condition of SDXL (LDM `label_emb`, diffusers addition_embed_type "text_time"):
  // a vector of adm_in_channels (the pooled text embedding, then each time id as a sinusoid
  // of addition_time_embed_dim) → two linears added to the timestep embedding. 0: none.
  std::int64_t adm_in_channels = 0;             // diffusers projection_class_embeddings_input_dim
  std::int64_t addition_time_embed_dim = 256;   // sgm's ConcatTimestepEmbedderND outdim

  static UNetConfig sd15();
  static UNetConfig sd21();
  // From a diffusers UNet2DConditionModel config.json (absent keys take that class's defaults;
  // keys gen cannot honour are refused by name: arch/config_keys.hpp).
  static UNetConfig from_diffusers(const nlohmann::json& config, const std::string& subject);
  std::size_t levels() const { return block_channels.size(); }
  bool has_attention(std::size_t level) const;
  // The attention of a transformer at `level` (channels = that level's) and of the middle block.
  AttentionOptions attention_at(std::size_t level) const;
  AttentionOptions attention_mid() const;
  std::int64_t depth_down(std::size_t level) const;
  std::int64_t depth_up(std::size_t level) const;
  std::int64_t depth_mid() const;
  void validate(const std::string& subject) const;  // InvalidArgument when inconsistent
};

struct VaeConfig {
  std::int64_t in_channels = 3;
  std::int64_t out_channels = 3;
  std::int64_t latent_channels = 4;
  std::int64_t channels = 128;  // the encoder's conv_in output (LDM `ch`; diffusers block_out_channels[0])
  std::vector<std::int64_t> block_channels = {128, 256, 512, 512};  // each level's channels
  std::int64_t num_res_blocks = 2;
  std::int64_t norm_groups = 32;
  double scaling_factor = 0.18215;

  static VaeConfig sd();
  // From a diffusers AutoencoderKL config.json (class defaults, refusals: arch/config_keys.hpp).
  static VaeConfig from_diffusers(const nlohmann::json& config, const std::string& subject);
  std::size_t levels() const { return block_channels.size(); }
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
  // The projection of the pooled output (SDXL's second encoder: transformers
  // CLIPTextModelWithProjection `text_projection.weight` [P, width], OpenCLIP `text_projection`
  // [width, P]); 0: none (SD 1.x/2.x do not use it).
  std::int64_t projection_dim = 0;
  // Where the pooled output is taken: the first position of this token id; -1 (OpenCLIP, and
  // transformers' legacy eos_token_id 2): the position of the largest id.
  std::int64_t eos_token_id = -1;

  static ClipTextConfig sd15();
  static ClipTextConfig sd21();  // OpenCLIP ViT-H/14 text tower (24 layers, width 1024)
  // From a transformers CLIPTextConfig (text_encoder/config.json; absent keys take
  // CLIPTextConfig's defaults, as transformers does).
  // `with_projection`: the config of a CLIPTextModelWithProjection (projection_dim read).
  static ClipTextConfig from_transformers(const nlohmann::json& config, const std::string& subject,
                                          bool with_projection = false);
};

}  // namespace gen::models

namespace gen::control {

struct ControlNetConfig {
  models::UNetConfig unet;  // the encoder half's shape (in_channels = latent channels)
  std::int64_t hint_channels = 3;
  std::vector<std::int64_t> hint_block_channels = {16, 32, 96, 256};
  // Shuffle-style models (diffusers global_pool_conditions, LDM global_average_pooling):
  // residuals averaged over H×W, and (as diffusers, the original code and the A1111
  // extension do) given to the conditional half of the CFG batch only, at the plain scale.
  bool global_average_pooling = false;
  bool bgr = false;  // controlnet_conditioning_channel_order "bgr": the hint's channels reversed
  // UniControl (control/unicontrol.hpp): the number of per-task hint blocks (0: a plain
  // ControlNet), the HyperNet's input width (the text encoder's), and whether the hint
  // zero-convs' un-modulated `.1` branch is added (v1.1; v1.0 ignores it).
  std::int64_t unicontrol_tasks = 0;
  std::int64_t unicontrol_feature_dim = 768;
  bool unicontrol_v11 = true;
  // ControlNet Union / ProMax (control/controlnet_union.hpp): the number of control types
  // (0: not a Union; diffusers num_control_type), the condition transformer's width, heads and
  // layers (num_trans_channel, num_trans_head, num_trans_layer), spatial_ch_projs' output
  // (num_proj_channel) and each one-hot entry's sinusoid width (addition_time_embed_dim).
  std::int64_t union_types = 0;
  std::int64_t union_channels = 320;
  std::int64_t union_heads = 8;
  std::int64_t union_layers = 1;
  std::int64_t union_proj_channels = 320;
  std::int64_t union_embed_dim = 256;

  static ControlNetConfig sd15();
  // From a diffusers ControlNetModel or ControlNetUnionModel config.json (class defaults,
  // refusals: arch/config_keys.hpp).
  static ControlNetConfig from_diffusers(const nlohmann::json& config, const std::string& subject);
};

}  // namespace gen::control
