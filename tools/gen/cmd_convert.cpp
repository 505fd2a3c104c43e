// gen convert IN OUT.safetensors [--prefix P] [--strip-prefix] [--dtype fp16|bf16|keep]
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "commands.hpp"
#include "format.hpp"
#include "core/fail.hpp"
#include "io/convert.hpp"

namespace gen::cli {
namespace {

struct ConvertArgs {
  std::string in, out, prefix, dtype = "keep";
  bool strip = false;
  bool overwrite = false;
};


int run_convert(const ConvertArgs& a) {
  io::ConvertOptions opt;
  opt.prefix = a.prefix;
  opt.strip_prefix = a.strip;
  if (a.dtype == "fp16") opt.dtype = io::TargetDType::F16;
  else if (a.dtype == "bf16") opt.dtype = io::TargetDType::BF16;
  else if (a.dtype == "keep") opt.dtype = io::TargetDType::Keep;
  else fail(ErrorCode::InvalidArgument, "--dtype", "expected fp16, bf16 or keep, got '" + a.dtype + "'");

  // An existing output is replaced only when asked (the output being the input itself is
  // refused by convert_checkpoint, whatever --overwrite says; links and others by the writer).
  struct stat st {};
  std::error_code ec;
  if (!a.overwrite && ::lstat(a.out.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      !std::filesystem::equivalent(a.in, a.out, ec))
    fail(ErrorCode::InvalidArgument, a.out, "exists: pass --overwrite to replace it");
  const io::ConvertSummary s = io::convert_checkpoint(a.in, a.out, opt);
  std::printf("%s -> %s (%s input%s)\n", a.in.c_str(), a.out.c_str(), s.input_format.c_str(),
              s.root.empty() ? "" : (", tensors under '" + s.root + "'").c_str());
  std::string kinds;
  for (const auto& [dtype, count] : s.dtypes)
    kinds += (kinds.empty() ? "" : ", ") + std::to_string(count) + " " + dtype_name(dtype);
  std::printf("  wrote %zu tensors (%s), %s", s.tensors, kinds.c_str(), human_bytes(s.bytes_out).c_str());
  if (s.cast > 0) std::printf(" (cast %zu tensors, from %s)", s.cast, human_bytes(s.bytes_in).c_str());
  std::printf("\n");
  if (s.outside_prefix > 0)
    std::printf("  left out %zu tensors not starting with '%s'\n", s.outside_prefix, a.prefix.c_str());
  if (s.overflowed > 0)
    std::printf("  warning: %llu values were too large for fp16 and became infinite\n",
                static_cast<unsigned long long>(s.overflowed));
  if (!s.dropped.empty()) {
    std::printf("  dropped %zu non-tensor entries:", s.dropped.size());
    const std::size_t shown = s.dropped.size() > 8 ? 8 : s.dropped.size();
    for (std::size_t k = 0; k < shown; ++k)
      std::printf("%s %s (%s)", k == 0 ? "" : ",", s.dropped[k].name.c_str(), s.dropped[k].what.c_str());
    if (shown < s.dropped.size()) std::printf(", ... %zu more", s.dropped.size() - shown);
    std::printf("\n");
  }
  return 0;
}

}  // namespace

Command register_convert(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  auto* sub = app.add_subcommand(
      "convert",
      "Convert a pickled checkpoint (.ckpt/.pth/.pt) or a .safetensors file to .safetensors, "
      "keeping only tensors; the pickle is never executed");
  sub->add_option("input", args->in, "checkpoint to read (torch.save zip archive or .safetensors)")->required();
  sub->add_option("output", args->out, "the .safetensors file to write")->required();
  sub->add_option("--prefix", args->prefix, "keep only tensors whose name starts with this");
  sub->add_flag("--strip-prefix", args->strip, "remove the --prefix from the names kept");
  sub->add_flag("--overwrite", args->overwrite, "replace an existing output file");
  sub->add_option("--dtype", args->dtype, "cast floating tensors: fp16, bf16 or keep (default)")
      ->check(CLI::IsMember({"fp16", "bf16", "keep"}));
  return {sub, [args] { return run_convert(*args); }};
}

}  // namespace gen::cli
