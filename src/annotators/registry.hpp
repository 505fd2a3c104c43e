// gen — the annotators by preprocess name, and their options. They share the --preprocess
// namespace with control/control_image's preprocessors (canny, invert, ...):
//   NAME[:FLAG][:KEY=NUMBER]...[:file=PATH]
// e.g. hed:safe, pidinet:safe:scribble, lineart_standard:sigma=3, shuffle:seed=7,
// hed:file=/models/ControlNetHED.safetensors (file= takes the rest of the text, colons included).
// Torch-free: the request checks use it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "annotators/annotator_files.hpp"

namespace gen::annotators {

struct NumberOption {
  const char* key;
  double lo, hi, fallback;
  bool integer;
};

struct AnnotatorInfo {
  const char* name;
  const char* weights;  // file stem in the annotator folder ("" = no network)
  const char* kind;     // its weight file's kind (annotator_files.hpp: identify_annotator) ("" = none)
  std::vector<const char*> flags;
  std::vector<NumberOption> numbers;
};

// Every annotator, in the order docs/preprocessors.md lists them.
const std::vector<AnnotatorInfo>& annotator_table();
const AnnotatorInfo* find_annotator(const std::string& name);

struct AnnotatorSpec {
  const AnnotatorInfo* info = nullptr;
  std::set<std::string> flags;
  std::map<std::string, double> numbers;  // every NumberOption, given or its fallback
  std::string file;                       // file=PATH, or ""
  bool has(const std::string& flag) const { return flags.count(flag) != 0; }
  double number(const std::string& key) const { return numbers.at(key); }
};

// sd-webui-controlnet (A1111) preprocessor names → gen's spec ("softedge_hedsafe" → "hed:safe").
struct AnnotatorAlias {
  const char* alias;
  const char* spec;
};
const std::vector<AnnotatorAlias>& annotator_aliases();
// `spec` with an alias in front replaced by its gen spec (options after it kept); else as given.
std::string resolve_alias(const std::string& spec);
// "depth_midas = midas, ..." for messages and docs.
std::string annotator_aliases_text();

// Whether `spec` names an annotator (or an alias of one) (its text before the first ':').
bool is_annotator(const std::string& spec);
// Parses an annotator spec (an alias is resolved first); InvalidArgument naming "preprocess" for an unknown option or a
// number out of range.
AnnotatorSpec parse_annotator(const std::string& spec);
// `--preprocess unicontrol[:OPTIONS]` in a UniControl group: the preparation of the group's task
// as the reference's demo makes it (docs/unicontrol.md). Whether `spec` is that placeholder, and
// the annotator it stands for with `task` ("unicontrol:ksize=31" + blur → "unicontrol_blur:ksize=31");
// any other spec unchanged. InvalidArgument naming `subject`: no task, a task mix, a task the
// reference prepares with a detector (the message says what to use instead).
bool is_unicontrol_placeholder(const std::string& spec);
std::string resolve_unicontrol(const std::string& spec, const std::string& task, const std::string& subject);
// "hed[:safe][:scribble], ..." for messages.
std::string annotator_names_text();

}  // namespace gen::annotators
