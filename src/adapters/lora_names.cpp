#include "adapters/lora_names.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <tuple>

#include "core/fail.hpp"
#include "core/named_file.hpp"
#include "core/file_cache.hpp"
#include "core/sha256.hpp"
#include "gen/safetensors.hpp"

namespace gen::adapters {
namespace fs = std::filesystem;
namespace {

bool word_char(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// Python's float() on a tag argument: surrounding whitespace allowed, the rest must be a number.
double number(const std::string& text, const std::string& tag, const std::string& subject) {
  const auto b = text.find_first_not_of(" \t\n\r"), e = text.find_last_not_of(" \t\n\r");
  const std::string t = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  char* end = nullptr;
  const double v = t.empty() ? 0 : std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0' || !std::isfinite(v))
    fail(ErrorCode::InvalidArgument, subject, "in " + tag + ": '" + text + "' is not a finite number");
  return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep) out.emplace_back();
    else out.back().push_back(c);
  }
  return out;
}

bool is_lora_type(const std::string& t) { return t == "lora" || t == "lyco"; }

}  // namespace

std::string take_prompt_tags(const std::string& prompt, std::vector<PromptTag>* tags, const std::string& subject) {
  std::string out;
  std::size_t i = 0;
  while (i < prompt.size()) {
    // <(\w+):([^>]+)> at i?
    if (prompt[i] == '<') {
      std::size_t j = i + 1;
      while (j < prompt.size() && word_char(static_cast<unsigned char>(prompt[j]))) ++j;
      if (j > i + 1 && j < prompt.size() && prompt[j] == ':') {
        const auto close = prompt.find('>', j + 1);
        if (close != std::string::npos && close > j + 1) {
          const std::string tag = prompt.substr(i, close - i + 1);
          PromptTag t;
          t.type = prompt.substr(i + 1, j - i - 1);
          std::vector<std::string> positional;
          std::map<std::string, std::string> named;
          for (const auto& item : split(prompt.substr(j + 1, close - j - 1), ':')) {
            const auto parts = split(item, '=');
            if (parts.size() == 2) named[parts[0]] = parts[1];
            else positional.push_back(item);
          }
          t.name = positional.empty() ? "" : positional[0];
          if (is_lora_type(t.type)) {
            if (t.name.empty()) fail(ErrorCode::InvalidArgument, subject, "in " + tag + ": no LoRA name");
            t.te = positional.size() > 1 ? number(positional[1], tag, subject) : 1.0;
            if (named.count("te")) t.te = number(named["te"], tag, subject);
            t.unet = positional.size() > 2 ? number(positional[2], tag, subject) : t.te;
            if (named.count("unet")) t.unet = number(named["unet"], tag, subject);
          }
          if (tags) tags->push_back(std::move(t));
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(prompt[i++]);
  }
  return out;
}

std::string find_lora_file(const std::string& name, const std::string& dir, const std::string& subject) {
  // Subfolders, as A1111 walks its Lora folder: the first file (in sorted order) named NAME.ext.
  return core::find_named_file(name, dir, {".safetensors", ".pt", ".ckpt"}, "LoRA", "--lora-dir or $GEN_LORA_DIR",
                               subject);
}

std::vector<ResolvedLora> resolve_loras(const Request& r, CleanPrompts* cleaned, std::vector<std::string>* ignored) {
  std::vector<ResolvedLora> out;
  for (std::size_t i = 0; i < r.loras.size(); ++i) {
    const auto& l = r.loras[i];
    const std::string subject = "loras[" + std::to_string(i) + "]";
    ResolvedLora x;
    x.path = find_lora_file(l.file, r.lora_dir, subject);
    x.name = fs::path(x.path).stem().string();
    x.unet = l.weight;
    x.te = l.te_weight ? *l.te_weight : l.weight;
    out.push_back(std::move(x));
  }
  CleanPrompts c;
  const std::tuple<const std::string*, std::string*, const char*> prompts[] = {
      {&r.prompt, &c.prompt, "prompt"},
      {&r.negative_prompt, &c.negative_prompt, "negative_prompt"},
      {&r.hires_prompt, &c.hires_prompt, "hires_prompt"},
      {&r.hires_negative_prompt, &c.hires_negative_prompt, "hires_negative_prompt"}};
  for (const auto& [text, clean, subject] : prompts) {
    std::vector<PromptTag> tags;
    *clean = take_prompt_tags(*text, &tags, subject);
    for (const auto& t : tags) {
      if (!is_lora_type(t.type)) {
        if (ignored) ignored->push_back("<" + t.type + ":" + t.name + ">");
        continue;
      }
      ResolvedLora x;
      x.path = find_lora_file(t.name, r.lora_dir, subject);
      x.name = t.name;
      x.te = t.te;
      x.unet = t.unet;
      out.push_back(std::move(x));
    }
  }
  if (cleaned) *cleaned = std::move(c);
  return out;
}

std::string lora_short_hash(const std::string& path) {
  return core::memo_by_file("lora hash", path, [](const std::string& p) {
    std::string hash;
    if (fs::path(p).extension() == ".safetensors") {
      const auto file = SafetensorsFile::open(p);
      const auto it = file.metadata().find("sshs_model_hash");
      hash = it != file.metadata().end() ? it->second : addnet_hash_safetensors(p);
    } else {
      hash = sha256_file(p);
    }
    return hash.substr(0, 12);
  });
}

std::string lora_hashes_text(const std::vector<ResolvedLora>& loras) {
  std::string out;
  for (const auto& l : loras) {
    std::string alias;
    for (char ch : l.name)
      if (ch != ':' && ch != ',') alias.push_back(ch);
    const std::string item = alias + ": " + lora_short_hash(l.path);
    if (out.find(item) != std::string::npos) continue;
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

}  // namespace gen::adapters
