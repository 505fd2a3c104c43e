// gen — what an annotator weight file is, from its tensor names (and a few shapes) alone: the one
// recognition used by `gen inspect` (arch/classify.cpp → ModelKind::Annotator), by the annotators'
// wrong-file messages (networks.cpp, depth_anything.cpp) and by anything else that must tell
// annotator files apart. Torch-free (gen_io), no file access. docs/inspect.md lists the markers.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gen::annotators {

using TensorShapes = std::map<std::string, std::vector<std::int64_t>>;

// The annotator file kinds (AnnotatorInfo::kind names the one an annotator reads):
//   hed, pidinet, lineart (sk_model / sk_model2: one network, the file cannot tell which),
//   lineart_anime, depth_anything, midas, openpose_body, openpose_hand, openpose_face, mlsd,
//   normalbae (scannet.pt).
struct AnnotatorFile {
  std::string kind;     // "" when the tensors are no annotator file gen knows
  std::string variant;  // depth_anything: vits / vitb / vitl / vitg / custom; midas: dpt_hybrid; mlsd: large / tiny;
                        // openpose_body / openpose_hand: "raw" (the .pth keys) or "transferred"
                        // (controlnet_aux's model-prefixed names); else ""
  std::string prefix;   // a wrapper prefix every name carries ("module." from DataParallel), or ""
  std::string layout;   // depth_anything: "transformers" for a Hugging Face -hf repository's model.safetensors
                        // (DepthAnythingForDepthEstimation's names), "" for the original repository's names
  std::int64_t width = 0;  // depth_anything, midas: the ViT width (patch_embed's channels)
};

// Recognises an annotator file; never throws. Names may carry DataParallel's "module." prefix
// (table5_pidinet.pth and netG.pth do).
AnnotatorFile identify_annotator(const TensorShapes& tensors);

// "a HED annotator file (ControlNetHED, for hed)"; "" → "not an annotator file gen knows".
std::string describe_kind(const std::string& kind);

// The file name the original release uses ("ControlNetHED.pth"; lineart: "sk_model.pth / sk_model2.pth").
std::string original_file(const AnnotatorFile& file);

// What a file that is not the asked-for annotator is, for the loaders' wrong-file messages: the
// asked-for kind `own_kind` under a wrapper prefix (with the `gen convert` that strips it; named
// `own_label`), another annotator kind, another model kind (arch/classify.hpp), or "no model gen
// knows". own_kind "" skips the prefix case.
std::string describe_other_file(const TensorShapes& tensors, const std::string& own_kind = "",
                                const std::string& own_label = "");

// The shape of `name` in `tensors`, which must have `dims` dimensions; otherwise `bad` (which
// throws) is called with "no NAME" or "NAME has N dimensions".
template <class Bad>
const std::vector<std::int64_t>& required_shape(const TensorShapes& tensors, const std::string& name, std::size_t dims,
                                                const Bad& bad) {
  const auto it = tensors.find(name);
  if (it == tensors.end()) bad("no " + name);
  if (it->second.size() != dims) bad(name + " has " + std::to_string(it->second.size()) + " dimensions");
  return it->second;
}

// The --preprocess names whose weights are this kind (registry.hpp's table), in its order.
std::vector<std::string> preprocess_names_for(const std::string& kind);

}  // namespace gen::annotators
