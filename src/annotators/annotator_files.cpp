// identify_annotator(): annotator weight files by their marker keys (the key names of
// controlnet-aux 0.0.10's model classes and of the original .pth releases).
#include "annotators/annotator_files.hpp"

#include "annotators/registry.hpp"
#include "arch/classify.hpp"

namespace gen::annotators {

namespace {

struct Marks {
  const TensorShapes& t;
  std::string prefix;  // set by the first marker found under "module."
  bool has(const std::string& n) {
    if (t.count(n)) return true;
    if (!t.count("module." + n)) return false;
    prefix = "module.";
    return true;
  }
  bool all(std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (!has(n)) return false;
    return true;
  }
  std::int64_t dim0(const std::string& n) const {
    auto it = t.find(prefix + n);
    return it == t.end() || it->second.empty() ? 0 : it->second[0];
  }
};

}  // namespace

AnnotatorFile identify_annotator(const TensorShapes& tensors) {
  Marks m{tensors, ""};
  AnnotatorFile f;
  const auto vit = [](std::int64_t width) {
    return width == 384 ? "vits" : width == 768 ? "vitb" : width == 1024 ? "vitl" : width == 1536 ? "vitg" : "custom";
  };
  if (m.all({"norm", "block1.convs.0.weight", "block5.projection.weight"})) {
    f.kind = "hed";
  } else if (m.all({"init_block.weight", "block4_4.conv2.weight", "classifier.weight"})) {
    f.kind = "pidinet";
  } else if (m.all({"model0.1.weight", "model4.1.weight", "model2.0.conv_block.1.weight"})) {
    f.kind = "lineart";
  } else if (m.all({"model.model.0.weight", "model.model.1.model.1.weight"})) {
    f.kind = "lineart_anime";
  } else if (m.all({"pretrained.patch_embed.proj.weight", "pretrained.pos_embed",
                    "depth_head.scratch.output_conv1.weight"})) {
    f.kind = "depth_anything";
    f.width = m.dim0("pretrained.patch_embed.proj.weight");
    f.variant = vit(f.width);
  } else if (m.all({"backbone.embeddings.patch_embeddings.projection.weight", "backbone.embeddings.position_embeddings",
                    "head.conv1.weight", "neck.convs.0.weight"})) {
    f.kind = "depth_anything";  // depth-anything/Depth-Anything-V2-*-hf's model.safetensors (transformers)
    f.layout = "transformers";
    f.width = m.dim0("backbone.embeddings.patch_embeddings.projection.weight");
    f.variant = vit(f.width);
  } else if (m.all({"pretrained.model.patch_embed.backbone.stem.conv.weight", "pretrained.model.pos_embed",
                    "scratch.output_conv.4.weight"})) {
    f.kind = "midas";  // dpt_hybrid-midas-501f0c75.pt
    f.variant = "dpt_hybrid";
    f.width = m.dim0("pretrained.model.patch_embed.proj.weight");
  } else if (m.all({"encoder.original_model.conv_stem.weight", "decoder.up1._net.0.weight",
                    "decoder.out_conv_res1.0.weight"})) {
    f.kind = "normalbae";  // scannet.pt (its names under DataParallel's "module.")
  } else if (m.all({"conv5_5_CPM_L1.weight", "Mconv7_stage6_L2.weight"})) {
    f.kind = "openpose_body";  // body_pose_model.pth
    f.variant = "raw";
  } else if (m.all({"model0.conv4_4_CPM.weight", "model6_2.Mconv7_stage6_L2.weight"})) {
    f.kind = "openpose_body";  // after controlnet_aux's util.transfer
    f.variant = "transferred";
  } else if (m.all({"conv6_2_CPM.weight", "Mconv7_stage6.weight"})) {
    // hand_pose_model.pth and facenet.pth share every name: 22 heatmaps (hand) or 71 (face).
    f.kind = m.dim0("conv6_2_CPM.weight") == 71 ? "openpose_face" : "openpose_hand";
    if (f.kind == "openpose_hand") f.variant = "raw";
  } else if (m.all({"model1_0.conv1_1.weight", "model1_1.conv6_2_CPM.weight"})) {
    f.kind = "openpose_hand";
    f.variant = "transferred";
  } else if (m.all({"backbone.features.0.0.weight", "block15.conv1.0.weight"})) {
    f.kind = "mlsd";
    f.variant = m.has("block23.conv3.weight") ? "large" : m.has("block16.conv3.weight") ? "tiny" : "";
  }
  if (!f.kind.empty()) f.prefix = m.prefix;
  return f;
}

std::string describe_kind(const std::string& kind) {
  if (kind == "hed") return "a HED annotator file (ControlNetHED, for hed)";
  if (kind == "pidinet") return "a PiDiNet annotator file (table5_pidinet, for pidinet)";
  if (kind == "lineart") return "a line-art annotator file (sk_model / sk_model2, for lineart / lineart_coarse)";
  if (kind == "lineart_anime") return "an anime line-art annotator file (netG, for lineart_anime)";
  if (kind == "depth_anything") return "a Depth Anything V2 file (depth_anything_v2_vit*, for depth_anything)";
  if (kind == "midas") return "a MiDaS DPT-Hybrid depth file (dpt_hybrid-midas-501f0c75, for midas / normal_midas)";
  if (kind == "openpose_body") return "an OpenPose body model file (body_pose_model, for openpose)";
  if (kind == "openpose_hand") return "an OpenPose hand model file (hand_pose_model, for openpose hands)";
  if (kind == "openpose_face") return "an OpenPose face model file (facenet, for openpose faces)";
  if (kind == "mlsd") return "an M-LSD line-segment annotator file (mlsd_large_512_fp32 / mlsd_tiny_512_fp32, for mlsd)";
  if (kind == "normalbae") return "a NormalBAE surface-normal file (scannet, for normal_bae)";
  return "not an annotator file gen knows";
}

std::string original_file(const AnnotatorFile& f) {
  const std::string& k = f.kind;
  if (k == "hed") return "ControlNetHED.pth";
  if (k == "pidinet") return "table5_pidinet.pth";
  if (k == "lineart") return "sk_model.pth / sk_model2.pth";
  if (k == "lineart_anime") return "netG.pth";
  if (k == "depth_anything" && f.layout == "transformers") {
    const std::string size = f.variant == "vits" ? "Small" : f.variant == "vitb" ? "Base" : f.variant == "vitl" ? "Large" : "*";
    return "model.safetensors of depth-anything/Depth-Anything-V2-" + size + "-hf";
  }
  if (k == "depth_anything")
    return f.variant == "custom" ? "depth_anything_v2_vit*.pth" : "depth_anything_v2_" + f.variant + ".pth";
  if (k == "midas") return "dpt_hybrid-midas-501f0c75.pt";
  if (k == "openpose_body") return "body_pose_model.pth";
  if (k == "openpose_hand") return "hand_pose_model.pth";
  if (k == "openpose_face") return "facenet.pth";
  if (k == "mlsd") return f.variant == "tiny" ? "mlsd_tiny_512_fp32.pth" : "mlsd_large_512_fp32.pth";
  if (k == "normalbae") return "scannet.pt";
  return "";
}

std::vector<std::string> preprocess_names_for(const std::string& kind) {
  std::vector<std::string> out;
  if (kind.empty()) return out;
  for (const auto& a : annotator_table())
    if (kind == a.kind) out.push_back(a.name);
  // OpenPose's hand and face files ride along with the body file of the presets that ask for them.
  if (kind == "openpose_hand") out = {"openpose_hand", "openpose_full"};
  if (kind == "openpose_face") out = {"openpose_face", "openpose_full"};
  return out;
}

std::string describe_other_file(const TensorShapes& s, const std::string& own_kind, const std::string& own_label) {
  const AnnotatorFile other = identify_annotator(s);  // the one recognition
  if (!own_kind.empty() && other.kind == own_kind && !other.prefix.empty())
    return own_label + " weights under '" + other.prefix + "' (`gen convert FILE OUT --prefix " + other.prefix +
           " --strip-prefix` removes it)";
  if (!other.kind.empty()) return describe_kind(other.kind);
  std::vector<NamedShape> named;
  for (const auto& [n, shape] : s) named.push_back({n, shape});
  const auto report = classify(named);
  if (report.kind != ModelKind::Unknown) return std::string("a ") + kind_id(report.kind) + " file";
  return "no model gen knows";
}

}  // namespace gen::annotators
