// gen inspect PATH [--json] [--tensors]: what a weight file or folder is.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "commands.hpp"
#include "format.hpp"
#include "gen/error.hpp"
#include "gen/safetensors.hpp"
#include "io/inspect.hpp"

namespace gen::cli {
namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
  bool tensors = false;
};



std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void print_report(std::ostringstream& out, const io::InspectReport& r, bool tensors, const std::string& pad) {
  const ModelReport& m = r.model;
  out << pad << "what:     " << m.summary << "\n";
  if (r.format == "config-only" || r.format == "none") return;
  out << pad << "kind:     " << kind_id(m.kind) << "  family: " << family_id(m.family)
      << "  layout: " << layout_id(m.layout);
  if (!m.prefix.empty()) out << "  prefix: " << m.prefix;
  out << "\n";
  if (!r.load.as.empty()) {
    const std::string as = r.load.as == "controlnet" ? "a ControlNet (--control)"
                           : r.load.as == "vae"      ? "a VAE (--vae)"
                           : r.load.as == "upscaler" ? "an upscaler (--hires-upscaler-model, gen upscale --model)"
                           : r.load.as == "annotator" ? "an annotator's weights (--preprocess NAME)"
                           : r.load.as == "t2i-adapter" ? "a T2I-Adapter (--adapter)"
                           : r.model.summary.find("SDXL refiner") != std::string::npos
                               ? "the model (-m) with --init-image, or as --refiner after an SDXL base"
                               : "the model (-m)";
    out << pad << "load:     ";
    if (r.load.ok) out << "ok as " << as << (r.load.config.empty() ? "" : ", with " + r.load.config) << "\n";
    else out << "no, as " << as << ": " << r.load.reason << " [" << code_name(r.load.code) << "]\n";
  }
  if (!r.class_name.empty()) out << pad << "class:    " << r.class_name << (r.library.empty() ? "" : " (" + r.library + ")") << "\n";
  if (!m.parts.empty()) {
    out << pad << "parts:   ";
    for (const auto& p : m.parts) out << " " << p;
    out << "\n";
  }
  if (!m.facts.empty()) {
    out << pad << "shapes:  ";
    for (const auto& kv : m.facts) out << " " << kv.first << "=" << kv.second;
    out << "\n";
  }
  for (const auto& n : m.notes) out << pad << "note:     " << n << "\n";
  out << pad << (r.components.empty() ? "tensors:  " : "total:    ") << r.tensor_count
      << (r.components.empty() ? " (" : " tensors (");
  bool first = true;
  for (const auto& kv : r.dtypes) out << (first ? "" : ", ") << kv.first << " " << kv.second, first = false;
  out << "), " << human_count(r.parameters) << " parameters, " << human_bytes(r.bytes) << "\n";
  if (r.files.size() > 1) out << pad << "shards:   " << r.files.size() << " files\n";
  for (const auto& kv : r.metadata) {
    std::string v = kv.second;
    if (v.size() > 100) v = v.substr(0, 97) + "...";
    out << pad << "metadata: " << kv.first << " = " << v << "\n";
  }
  if (tensors) {
    for (const auto& t : r.tensors)
      out << pad << "  " << t.name << "  " << dtype_name(t.dtype) << "  " << shape_text(t.shape) << "\n";
  } else if (!r.groups.empty()) {
    std::size_t width = 0;
    for (const auto& g : r.groups) width = std::max(width, g.prefix.size());
    for (const auto& g : r.groups) {
      char line[64];
      std::snprintf(line, sizeof line, "%6llu tensors  %10s  %12s", static_cast<unsigned long long>(g.tensors),
                    human_count(g.parameters).c_str(), human_bytes(g.bytes).c_str());
      out << pad << "  " << g.prefix << std::string(width - g.prefix.size(), ' ') << "  " << line << "\n";
    }
  }
}

int run_inspect(const InspectOptions& o) {
  const io::InspectReport r = io::inspect_path(o.path);
  if (o.json) {
    std::string text = io::inspect_json(r, o.tensors, 2);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  std::ostringstream out;
  out << r.path << " (" << r.format << ")\n";
  print_report(out, r, o.tensors, "  ");
  if (!r.components.empty()) {
    for (const auto& c : r.components) {
      out << "\n  " << c.name << ": " << (c.class_name.empty() ? "-" : c.class_name);
      if (c.status != "ok") out << " [" << c.status << "]";
      out << "\n";
      if (c.status == "ok") print_report(out, c, o.tensors, "    ");
    }
  }
  if (!o.tensors && !r.groups.empty()) out << "  (--tensors lists every tensor)\n";
  const std::string text = out.str();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

Command register_inspect(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  auto* sub = app.add_subcommand("inspect", "List the tensors of a weight file and say what it is");
  sub->add_option("path", opts->path,
                  "a .safetensors file, a *.safetensors.index.json, or a diffusers model / pipeline folder")
      ->required();
  sub->add_flag("--json", opts->json, "print a JSON document (schema gen.inspect/1, see docs/inspect.md)");
  sub->add_flag("--tensors,--all", opts->tensors, "list every tensor (name, dtype, shape)");
  return {sub, [opts] { return run_inspect(*opts); }};
}

}  // namespace gen::cli
