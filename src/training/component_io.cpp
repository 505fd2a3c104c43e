#include "training/component_io.hpp"

#include <ATen/ATen.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "core/fs.hpp"
#include "gen/safetensors.hpp"

namespace gen::training {

void write_weights(models::Module& m, const std::string& path, const Rename& name) {
  std::vector<at::Tensor> keep;
  std::vector<TensorData> out;
  m.visit([&](const std::string& n, models::Module::Param& p) {
    auto t = p.value.detach().to(at::kCPU, at::kFloat).contiguous();
    const auto key = name(n);
    if (t.dim() == 4 && t.size(2) == 1 && t.size(3) == 1 && key.find(".attentions.") != std::string::npos &&
        key.find(".to_") != std::string::npos)
      t = t.view({t.size(0), t.size(1)});
    keep.push_back(t);
    out.push_back({key, DType::F32, t.sizes().vec(), t.data_ptr(), static_cast<std::size_t>(t.nbytes())});
  });
  write_safetensors(path, out, {{"format", "pt"}});
}

void save_component(models::Module& m, const std::string& folder, const nlohmann::json& config, const Rename& name) {
  std::string out = folder;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  const auto temp = core::join(core::dirname(out), ".gen-tmp-" + out.substr(out.rfind('/') + 1) + "-" + std::to_string(::getpid()));
  if (::mkdir(temp.c_str(), 0755) != 0) fail(ErrorCode::Io, temp, std::string("cannot create: ") + std::strerror(errno));
  try {
    write_weights(m, core::join(temp, "diffusion_pytorch_model.safetensors"), name);
    const auto text = config.dump(2) + "\n";
    write_file_atomic(core::join(temp, "config.json"), text.data(), text.size());
    if (::rename(temp.c_str(), out.c_str()) != 0)
      fail(ErrorCode::Io, out, std::string("cannot move the finished folder into place: ") + std::strerror(errno));
  } catch (...) {
    std::system(("rm -rf '" + temp + "'").c_str());
    throw;
  }
}

}  // namespace gen::training
