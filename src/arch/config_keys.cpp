#include "arch/config_keys.hpp"

#include <map>

#include "core/fail.hpp"
#include "core/json.hpp"

namespace gen::arch {
namespace {

using nlohmann::json;

// The classes' __init__ defaults, as tools/make_config_defaults.py reads them from diffusers
// 0.42 / transformers 5 (tests/data/models/config_defaults.json).
const std::map<std::string, const char*>& default_texts() {
  static const std::map<std::string, const char*> texts = {
      {"AutoencoderKL", R"({"act_fn":"silu","block_out_channels":[64],"down_block_types":["DownEncoderBlock2D"],"force_upcast":true,"in_channels":3,"latent_channels":4,"latents_mean":null,"latents_std":null,"layers_per_block":1,"mid_block_add_attention":true,"norm_num_groups":32,"out_channels":3,"sample_size":32,"scaling_factor":0.18215,"shift_factor":null,"up_block_types":["UpDecoderBlock2D"],"use_post_quant_conv":true,"use_quant_conv":true})"},
      {"CLIPTextConfig", R"({"architectures":null,"attention_dropout":0.0,"bos_token_id":49406,"chunk_size_feed_forward":0,"dtype":null,"eos_token_id":49407,"hidden_act":"quick_gelu","hidden_size":512,"id2label":null,"initializer_factor":1.0,"initializer_range":0.02,"intermediate_size":2048,"is_encoder_decoder":false,"label2id":null,"layer_norm_eps":1e-05,"max_position_embeddings":77,"num_attention_heads":8,"num_hidden_layers":12,"output_hidden_states":false,"pad_token_id":1,"problem_type":null,"projection_dim":512,"return_dict":true,"transformers_version":null,"vocab_size":49408})"},
      {"ControlNetModel", R"({"act_fn":"silu","addition_embed_type":null,"addition_embed_type_num_heads":64,"addition_time_embed_dim":null,"attention_head_dim":8,"block_out_channels":[320,640,1280,1280],"class_embed_type":null,"conditioning_channels":3,"conditioning_embedding_out_channels":[16,32,96,256],"controlnet_conditioning_channel_order":"rgb","cross_attention_dim":1280,"down_block_types":["CrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],"downsample_padding":1,"encoder_hid_dim":null,"encoder_hid_dim_type":null,"flip_sin_to_cos":true,"freq_shift":0,"global_pool_conditions":false,"in_channels":4,"layers_per_block":2,"mid_block_scale_factor":1,"mid_block_type":"UNetMidBlock2DCrossAttn","norm_eps":1e-05,"norm_num_groups":32,"num_attention_heads":null,"num_class_embeds":null,"only_cross_attention":false,"projection_class_embeddings_input_dim":null,"resnet_time_scale_shift":"default","transformer_layers_per_block":1,"upcast_attention":false,"use_linear_projection":false})"},
      {"ControlNetUnionModel", R"({"act_fn":"silu","addition_embed_type":null,"addition_embed_type_num_heads":64,"addition_time_embed_dim":null,"attention_head_dim":8,"block_out_channels":[320,640,1280,1280],"class_embed_type":null,"conditioning_channels":3,"conditioning_embedding_out_channels":[48,96,192,384],"controlnet_conditioning_channel_order":"rgb","cross_attention_dim":1280,"down_block_types":["CrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],"downsample_padding":1,"encoder_hid_dim":null,"encoder_hid_dim_type":null,"flip_sin_to_cos":true,"freq_shift":0,"global_pool_conditions":false,"in_channels":4,"layers_per_block":2,"mid_block_scale_factor":1,"norm_eps":1e-05,"norm_num_groups":32,"num_attention_heads":null,"num_class_embeds":null,"num_control_type":6,"num_proj_channel":320,"num_trans_channel":320,"num_trans_head":8,"num_trans_layer":1,"only_cross_attention":false,"projection_class_embeddings_input_dim":null,"resnet_time_scale_shift":"default","transformer_layers_per_block":1,"upcast_attention":false,"use_linear_projection":false})"},
      {"UNet2DConditionModel", R"({"act_fn":"silu","addition_embed_type":null,"addition_embed_type_num_heads":64,"addition_time_embed_dim":null,"attention_head_dim":8,"attention_type":"default","block_out_channels":[320,640,1280,1280],"center_input_sample":false,"class_embed_type":null,"class_embeddings_concat":false,"conv_in_kernel":3,"conv_out_kernel":3,"cross_attention_dim":1280,"cross_attention_norm":null,"down_block_types":["CrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],"downsample_padding":1,"dropout":0.0,"dual_cross_attention":false,"encoder_hid_dim":null,"encoder_hid_dim_type":null,"flip_sin_to_cos":true,"freq_shift":0,"in_channels":4,"layers_per_block":2,"mid_block_only_cross_attention":null,"mid_block_scale_factor":1,"mid_block_type":"UNetMidBlock2DCrossAttn","norm_eps":1e-05,"norm_num_groups":32,"num_attention_heads":null,"num_class_embeds":null,"only_cross_attention":false,"out_channels":4,"projection_class_embeddings_input_dim":null,"resnet_out_scale_factor":1.0,"resnet_skip_time_act":false,"resnet_time_scale_shift":"default","reverse_transformer_layers_per_block":null,"sample_size":null,"time_cond_proj_dim":null,"time_embedding_act_fn":null,"time_embedding_dim":null,"time_embedding_type":"positional","timestep_post_act":null,"transformer_layers_per_block":1,"up_block_types":["UpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D"],"upcast_attention":false,"use_linear_projection":false})"},
  };
  return texts;
}

KeyRule honoured(const char* key, const char* note) { return {key, KeyUse::Honoured, json(), note}; }
KeyRule fixed(const char* key, json allowed) { return {key, KeyUse::Fixed, std::move(allowed), ""}; }
KeyRule inert(const char* key, const char* note) { return {key, KeyUse::Inert, json(), note}; }

// Keys UNet2DConditionModel and ControlNetModel share, with the same verdict.
std::vector<KeyRule> unet_common() {
  return {
      honoured("in_channels", "latent channels in"),
      honoured("block_out_channels", "each level's channels (any list)"),
      honoured("layers_per_block", "res blocks per level (an integer, or a list of equal integers)"),
      honoured("down_block_types", "CrossAttnDownBlock2D / DownBlock2D per level"),
      honoured("mid_block_type", "UNetMidBlock2DCrossAttn"),
      honoured("only_cross_attention", "false (or a list of false)"),
      honoured("cross_attention_dim", "the text context width (an integer, or a list of equal integers)"),
      honoured("transformer_layers_per_block", "transformer depth: an integer or one per level"),
      honoured("attention_head_dim", "the head count per level, as diffusers reads it (integer or list)"),
      honoured("num_attention_heads", "the head count per level (integer or list); wins over attention_head_dim"),
      honoured("use_linear_projection", "linear proj_in/proj_out (SD 2.x)"),
      honoured("upcast_attention", "attention in float32 for 16-bit inputs"),
      honoured("norm_num_groups", "group norm groups"),
      fixed("flip_sin_to_cos", json::array({true})),
      fixed("freq_shift", json::array({0})),
      fixed("downsample_padding", json::array({1})),
      fixed("mid_block_scale_factor", json::array({1})),
      fixed("act_fn", json::array({"silu"})),
      fixed("norm_eps", json::array({1e-5})),
      fixed("encoder_hid_dim", json::array({nullptr})),
      fixed("encoder_hid_dim_type", json::array({nullptr})),
      fixed("class_embed_type", json::array({nullptr})),
      fixed("num_class_embeds", json::array({nullptr})),
      fixed("resnet_time_scale_shift", json::array({"default"})),
      inert("addition_embed_type_num_heads", "read only with addition_embed_type \"text\" (refused)"),
  };
}

std::map<std::string, std::vector<KeyRule>> make_rules() {
  std::map<std::string, std::vector<KeyRule>> r;
  auto& u = r["UNet2DConditionModel"] = unet_common();
  for (auto k : std::vector<KeyRule>{
           honoured("out_channels", "channels out"),
           honoured("up_block_types", "CrossAttnUpBlock2D / UpBlock2D, mirroring down_block_types"),
           honoured("reverse_transformer_layers_per_block", "the up levels' transformer depths (one integer each)"),
           fixed("addition_embed_type", json::array({nullptr, "text_time"})),
           honoured("addition_time_embed_dim", "with \"text_time\" (SDXL): each time id's sinusoid width"),
           honoured("projection_class_embeddings_input_dim",
                    "with \"text_time\" (SDXL): the added vector's width (pooled text + time ids)"),
           fixed("center_input_sample", json::array({false})),
           fixed("dual_cross_attention", json::array({false})),
           fixed("resnet_skip_time_act", json::array({false})),
           fixed("resnet_out_scale_factor", json::array({1.0})),
           fixed("time_embedding_type", json::array({"positional"})),
           fixed("time_embedding_dim", json::array({nullptr})),
           fixed("time_embedding_act_fn", json::array({nullptr})),
           fixed("timestep_post_act", json::array({nullptr})),
           fixed("time_cond_proj_dim", json::array({nullptr})),
           fixed("conv_in_kernel", json::array({3})),
           fixed("conv_out_kernel", json::array({3})),
           fixed("attention_type", json::array({"default"})),
           fixed("class_embeddings_concat", json::array({false})),
           fixed("mid_block_only_cross_attention", json::array({nullptr, false})),
           fixed("cross_attention_norm", json::array({nullptr})),
           inert("sample_size", "the training resolution; the request sets the size"),
           inert("dropout", "dropout does nothing at inference"),
       })
    u.push_back(k);
  auto& c = r["ControlNetModel"] = unet_common();
  for (auto k : std::vector<KeyRule>{
           honoured("conditioning_channels", "hint image channels"),
           honoured("conditioning_embedding_out_channels", "the hint encoder's widths"),
           honoured("controlnet_conditioning_channel_order", "rgb, or bgr (the hint's channels reversed)"),
           honoured("global_pool_conditions", "pooled residuals and diffusers' guess mode (docs/controlnet.md)"),
           fixed("addition_embed_type", json::array({nullptr, "text_time"})),
           honoured("addition_time_embed_dim", "with \"text_time\" (SDXL): each time id's sinusoid width"),
           honoured("projection_class_embeddings_input_dim",
                    "with \"text_time\" (SDXL): the added vector's width (pooled text + time ids)"),
       })
    c.push_back(k);
  // ControlNetUnionModel: ControlNetModel's keys less mid_block_type, rgb only, and the Union's.
  auto& un = r["ControlNetUnionModel"];
  for (const auto& k : c)
    if (k.key != "mid_block_type" && k.key != "controlnet_conditioning_channel_order") un.push_back(k);
  for (auto k : std::vector<KeyRule>{
           fixed("controlnet_conditioning_channel_order", json::array({"rgb"})),
           honoured("num_control_type", "the control types (the one-hot's length, task_embedding's rows)"),
           honoured("num_trans_channel", "the condition transformer's width (= block_out_channels[0])"),
           honoured("num_trans_head", "the condition transformer's heads"),
           honoured("num_trans_layer", "the condition transformer's layers"),
           honoured("num_proj_channel", "spatial_ch_projs' width (= block_out_channels[0])"),
       })
    un.push_back(k);
  r["AutoencoderKL"] = {
      honoured("in_channels", "image channels in"),
      honoured("out_channels", "image channels out"),
      honoured("down_block_types", "DownEncoderBlock2D per level"),
      honoured("up_block_types", "UpDecoderBlock2D per level"),
      honoured("block_out_channels", "each level's channels (any list)"),
      honoured("layers_per_block", "res blocks per level"),
      honoured("latent_channels", "latent channels"),
      honoured("norm_num_groups", "group norm groups"),
      honoured("scaling_factor", "the latent scale"),
      fixed("act_fn", json::array({"silu"})),
      fixed("use_quant_conv", json::array({true})),
      fixed("use_post_quant_conv", json::array({true})),
      fixed("mid_block_add_attention", json::array({true})),
      inert("sample_size", "diffusers' own tiling tile size; gen tiles by its --vae-tiling rules"),
      inert("shift_factor", "not applied by the Stable Diffusion 1.x/2.x pipelines"),
      inert("latents_mean", "not applied by the Stable Diffusion 1.x/2.x pipelines"),
      inert("latents_std", "not applied by the Stable Diffusion 1.x/2.x pipelines"),
      inert("force_upcast", "read by the SDXL pipelines only; gen picks the decode precision itself"),
  };
  r["CLIPTextConfig"] = {
      honoured("vocab_size", "token embedding rows"),
      honoured("hidden_size", "width"),
      honoured("intermediate_size", "MLP width"),
      honoured("num_hidden_layers", "layers"),
      honoured("num_attention_heads", "heads"),
      honoured("max_position_embeddings", "positions"),
      honoured("hidden_act", "quick_gelu or gelu"),
      honoured("layer_norm_eps", "layer norm epsilon"),
      honoured("projection_dim", "text_projection's width (CLIPTextModelWithProjection: SDXL's second encoder)"),
      inert("attention_dropout", "dropout does nothing at inference"),
      inert("initializer_range", "weight initialisation only"),
      inert("initializer_factor", "weight initialisation only"),
      inert("pad_token_id", "the tokenizer pads; the hidden states do not read it"),
      inert("bos_token_id", "the tokenizer's; the hidden states do not read it"),
      honoured("eos_token_id", "selects the pooled output (SDXL's second encoder); 2: the largest id, as transformers"),
      inert("architectures", "metadata"),
      inert("transformers_version", "metadata"),
      inert("dtype", "the storage type; gen loads per its --dtype"),
      inert("chunk_size_feed_forward", "memory chunking, same result"),
      inert("is_encoder_decoder", "metadata"),
      inert("id2label", "classification heads only"),
      inert("label2id", "classification heads only"),
      inert("problem_type", "classification heads only"),
      inert("output_hidden_states", "what transformers returns, not what it computes"),
      inert("return_dict", "what transformers returns, not what it computes"),
  };
  return r;
}

}  // namespace

const std::vector<std::string>& config_classes() {
  static const std::vector<std::string> names = {"UNet2DConditionModel", "ControlNetModel", "ControlNetUnionModel",
                                                 "AutoencoderKL", "CLIPTextConfig"};
  return names;
}

const json& class_defaults(const std::string& cls) {
  static const std::map<std::string, json> parsed = [] {
    std::map<std::string, json> m;
    for (const auto& [name, text] : default_texts()) m[name] = json::parse(text);
    return m;
  }();
  auto it = parsed.find(cls);
  if (it == parsed.end()) fail(ErrorCode::InvalidArgument, cls, "not a model config class gen knows");
  return it->second;
}

const std::vector<KeyRule>& key_rules(const std::string& cls) {
  static const std::map<std::string, std::vector<KeyRule>> rules = make_rules();
  auto it = rules.find(cls);
  if (it == rules.end()) fail(ErrorCode::InvalidArgument, cls, "not a model config class gen knows");
  return it->second;
}

json with_class_defaults(const json& config, const std::string& cls, const std::string& subject) {
  if (!config.is_object()) fail(ErrorCode::InvalidFormat, subject, "config is not a JSON object");
  json e = class_defaults(cls);
  for (auto& [key, value] : e.items())
    if (config.contains(key)) value = config[key];
  for (const auto& rule : key_rules(cls)) {
    if (rule.use != KeyUse::Fixed || !e.contains(rule.key)) continue;
    const json& v = e[rule.key];
    bool ok = false;
    for (const auto& a : rule.allowed)
      ok = ok || a == v || (a.is_number() && v.is_number() && a.get<double>() == v.get<double>());
    if (!ok) {
      std::string want;
      for (const auto& a : rule.allowed) want += (want.empty() ? "" : " or ") + a.dump();
      fail(ErrorCode::Unsupported, subject,
           rule.key + " = " + core::json_excerpt(v) + " is not supported (gen implements " + want + ")");
    }
  }
  return e;
}

}  // namespace gen::arch
