#include "tensor/tensor_file.hpp"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

#include "core/fail.hpp"
#include "gen/safetensors.hpp"
#include "io/torch_checkpoint.hpp"
#include "tensor/from_safetensors.hpp"

namespace gen {

TensorFile read_tensor_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  unsigned char magic[2] = {};
  {
    std::ifstream in(path, std::ios::binary);
    if (!in && !fs::exists(path, ec)) fail(ErrorCode::NotFound, path, "no such file");
    in.read(reinterpret_cast<char*>(magic), 2);
  }
  TensorFile out;
  // A torch.save ZIP archive ("PK"), or a bare / legacy pickle (protocol opcode 0x80), which
  // the checkpoint reader names as such.
  // A .safetensors name is read as safetensors (its 8-byte header length may start with 0x80).
  const bool st_name = path.size() >= 12 && path.compare(path.size() - 12, 12, ".safetensors") == 0;
  if (!st_name && ((magic[0] == 'P' && magic[1] == 'K') || (magic[0] == 0x80 && magic[1] >= 2 && magic[1] <= 5))) {
    out.pickle = true;
    const auto ckpt = io::read_torch_checkpoint(path);
    std::vector<std::uint8_t> scratch;
    for (const auto& t : ckpt.tensors) {
      c10::ScalarType st;
      if (!torch_dtype(t.dtype, st))
        fail(ErrorCode::Unsupported, path, std::string("tensor ") + t.name + " has dtype " + dtype_name(t.dtype));
      const std::uint8_t* bytes = io::torch_tensor_bytes(ckpt, t, scratch);
      out.tensors[t.name] =
          at::from_blob(const_cast<std::uint8_t*>(bytes), t.shape, at::TensorOptions().dtype(st)).clone();
    }
    for (const auto& d : ckpt.dropped) out.dropped.push_back(d.name + " (" + d.what + ")");
  } else {
    const auto ckpt = SafetensorsCheckpoint::open(path);
    out.metadata = ckpt.metadata();
    for (const auto& name : ckpt.names()) out.tensors[name] = view_tensor(ckpt, name);
  }
  return out;
}

}  // namespace gen
