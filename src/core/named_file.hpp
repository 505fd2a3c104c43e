// gen — finding a weight file by name in a folder, as A1111 finds LoRAs and upscalers: the name
// itself when it is a file; else DIR/NAME, DIR/NAME.EXT for each extension in order; else, in the
// subfolders, the first (sorted) file NAME.EXT. Used by the LoRA and upscaler lookups.
#pragma once

#include <string>
#include <vector>

namespace gen::core {

// NotFound naming `subject` when nothing is found or `dir` is empty or no folder; `what` names
// the kind of file ("LoRA", "upscaler") and `how` how a folder is given ("--lora-dir or $GEN_LORA_DIR").
std::string find_named_file(const std::string& name, const std::string& dir, const std::vector<std::string>& exts,
                            const std::string& what, const std::string& how, const std::string& subject);

}  // namespace gen::core
