// gen — what gen writes beside an image: the A1111 "parameters" text (infotext) and the
// "gen" request JSON. The engine fills GeneratedImage::metadata with both; programs that
// write their own files can call these directly. The infotext keys come from the request
// tables (gen/request.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gen/export.hpp"
#include "gen/request.hpp"

namespace gen {

// The A1111 "parameters" text of image `index_in_batch` of `request`, which used `seed`:
// the prompt, "Negative prompt: …", then "Steps: …, Sampler: …, CFG scale: …, Seed: …".
GEN_API std::string a1111_parameters(const Request& request, std::uint64_t seed, int index_in_batch);

// The A1111 sampler label ("euler_a", karras → "Euler a Karras").
GEN_API std::string a1111_sampler_name(Sampler sampler, Schedule schedule);

// A sampler as users name it (what gen's --sampler reads): gen's name ("euler_a"), A1111's label
// as a1111_sampler_name writes it, in any letter case ("DPM++ 2M Karras": also the karras
// schedule), or stable-diffusion.cpp's --sampling-method name ("dpm++2m"). `schedule` is Auto
// when the name gives none. Throws InvalidArgument naming `subject` for an unknown name, or one
// of a sampler gen does not have, said as such ("A1111's sampler 'DPM2 a' is not one gen has").
struct SamplerLabel {
  Sampler sampler = Sampler::Euler;
  Schedule schedule = Schedule::Auto;
};
GEN_API SamplerLabel sampler_from_label(const std::string& text, const std::string& subject);

// A1111's name of a hires-fix upscaler (latent_bicubic → "Latent (bicubic)").
GEN_API std::string hires_upscaler_a1111_name(HiresUpscaler upscaler);

// The PNG text chunks of one image: "parameters" (above) and "gen" (the request with that
// image's seed, batch 1 × 1: re-running it alone gives that image).
GEN_API std::map<std::string, std::string> image_metadata(const Request& request, std::uint64_t seed,
                                                          int index_in_batch);

// ---------------------------------------------------------------- reading A1111's text

// A1111's parse_generation_parameters (modules/infotext_utils.py) as far as the text goes, in
// its order: "Prompt", "Negative prompt", then the last line's keys (its re_param regex; quoted
// values unquoted; a "WxH" value as "KEY-1" and "KEY-2"; a repeated key keeps its first place
// with the last value; "Hypernet" appended to the prompt; old "First pass size" hires texts
// restored). The defaults A1111's UI adds for missing keys are not added (docs/metadata.md).
using InfotextFields = std::vector<std::pair<std::string, std::string>>;
GEN_API InfotextFields parse_a1111_parameters(const std::string& text);

// A request from A1111's text (docs/metadata.md has the key table). Files are looked up by the
// names the text gives: the checkpoint ("Model", checked against "Model hash") and the VAE in
// `model_dirs`, ControlNet models ("name [hash]") in `controlnet_dirs`, each a file NAME.ext
// (.safetensors, .ckpt, .pt, .pth, .bin) or a folder NAME, up to three folders deep.
struct A1111Import {
  Request request;                    // the fields the text sets; the others keep their defaults
  InfotextFields fields;              // what the text holds (parse_a1111_parameters)
  std::vector<std::string> unknown;   // keys gen does not use (reported, not fatal)
  // A value gen cannot honour (a model it cannot find, a sampler it does not have): the field's
  // path ("model", "controls[0].image") and one message. Fatal unless the caller sets the field.
  std::vector<std::pair<std::string, std::string>> problems;
  std::vector<std::string> notes;     // what will differ from A1111's image (GPU noise, ...)
};
struct A1111Lookup {
  std::vector<std::string> model_dirs;
  std::vector<std::string> controlnet_dirs;
};
GEN_API A1111Import request_from_a1111(const std::string& text, const A1111Lookup& lookup = {});

// ---------------------------------------------------------------- what goes into a file

// How much an image file says about its making (docs/metadata.md; the CLI's --metadata):
// portable (the default): the A1111 text and the gen request, with no absolute local path (the
// request's relative paths rewritten relative to the image's folder, files named by their
// names in the A1111 text); full: the same with absolute paths in the gen request; none: no
// metadata chunk at all.
enum class MetadataMode { Portable, Full, None };
GEN_API const char* metadata_mode_name(MetadataMode mode);  // "portable", "full", "none"
// Throws InvalidArgument naming `subject` for another name.
GEN_API MetadataMode metadata_mode_from_name(const std::string& name, const std::string& subject = "metadata");

// The text chunks to write for an image at `image_path`, from the engine's metadata
// (GeneratedImage::metadata, whose request paths are as given: relative to the current folder).
GEN_API std::map<std::string, std::string> file_metadata(std::map<std::string, std::string> metadata,
                                                         const std::string& image_path, MetadataMode mode);

// The file paths inside a request: model, model_config, vae, vocab, lora_dir, annotator_dir,
// embeddings_dir, init_image, mask, every control's and adapter's model and image; name-or-path
// fields (loras[].file, hires_upscaler_model, embeddings[]) only where the value holds a '/' or
// names an existing file. Absolute paths are left as they are.
// Relative paths made relative to `dir` (a request read from a file in `dir`).
GEN_API void resolve_request_paths(Request& request, const std::string& dir);
// Relative paths (relative to the current folder) rewritten relative to `dir`.
GEN_API void relative_request_paths(Request& request, const std::string& dir);
// Relative paths made absolute.
GEN_API void absolute_request_paths(Request& request);

}  // namespace gen
