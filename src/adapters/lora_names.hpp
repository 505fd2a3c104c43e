// gen — which adapter files a request uses: its `loras` and A1111's extra-network prompt tags
// `<lora:NAME:TE[:UNET[:DYN]]>` / `<lora:NAME:te=…:unet=…>`, found by name in the LoRA folder,
// and the short hash A1111 writes for each (`Lora hashes`). No libtorch: the request's
// infotext uses these too.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gen/request.hpp"

namespace gen::adapters {

// One <name:args> tag of a prompt.
struct PromptTag {
  std::string type;  // "lora" (or A1111's alias "lyco"), "hypernet", ...
  std::string name;  // the first argument
  double te = 1.0;   // A1111: the second argument or te=; default 1
  double unet = 1.0; // the third argument or unet=; default te
};

// The prompt without its tags (A1111's extra_networks.parse_prompt: every `<(\w+):([^>]+)>`
// removed, whatever its type), the tags appended to `tags`. Throws InvalidArgument naming
// `subject` for a weight that is not a finite number.
std::string take_prompt_tags(const std::string& prompt, std::vector<PromptTag>* tags, const std::string& subject);

// A LoRA file from what a user wrote: an existing path as is; else NAME, NAME.safetensors,
// NAME.pt or NAME.ckpt in `dir` or its subfolders (as A1111 lists its Lora folder; `dir` ""
// means none; the CLI defaults it to $GEN_LORA_DIR). Throws NotFound naming the name and where it looked.
std::string find_lora_file(const std::string& name, const std::string& dir, const std::string& subject);

struct ResolvedLora {
  std::string path;
  std::string name;  // as mentioned (a tag's name, or the file's stem)
  double unet = 1.0, te = 1.0;
};

// The request's adapter files in order: `loras`, then the tags of the prompt, the negative
// prompt and the hires prompts (in that order; each tag once per prompt it appears in).
// `cleaned` (optional) receives the four prompts without their tags. Other tag types
// (hypernet, ...) are removed from the text and named in `ignored`.
struct CleanPrompts {
  std::string prompt, negative_prompt, hires_prompt, hires_negative_prompt;
};
std::vector<ResolvedLora> resolve_loras(const Request& r, CleanPrompts* cleaned = nullptr,
                                        std::vector<std::string>* ignored = nullptr);

// A1111's short hash of a LoRA file: the first 12 hex digits of the file's `sshs_model_hash`
// metadata if it has one, else of the kohya hash of a .safetensors (the bytes after the
// header), else of the whole file's SHA-256. Cached by path, size and modification time.
std::string lora_short_hash(const std::string& path);

// The infotext value A1111 writes: "name: hash, name2: hash" (':' and ',' removed from names).
std::string lora_hashes_text(const std::vector<ResolvedLora>& loras);

}  // namespace gen::adapters
