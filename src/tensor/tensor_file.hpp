// gen — every tensor of a small weight file (an adapter, an embedding) as libtorch CPU tensors,
// whatever its format: a .safetensors file by the strict reader (views over the mapping, which
// they keep alive), a torch.save archive (.pt / .ckpt / .pth / .bin) by the non-executing pickle
// reader (copied out; entries that are no tensors are dropped, as torch_checkpoint.hpp's
// flattening rule says). The format is told by the file's first bytes, not by its name.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace gen {

struct TensorFile {
  bool pickle = false;                          // a torch.save archive
  std::map<std::string, at::Tensor> tensors;    // by name (pickles: the flattened, dotted names)
  std::map<std::string, std::string> metadata;  // a .safetensors file's __metadata__
  std::vector<std::string> dropped;             // pickles: "name (what)" of each non-tensor entry
};

// Errors (gen::Error naming the file): NotFound / Io; InvalidFormat (corrupt or truncated);
// UnsafeContent (a pickle holding more than tensors and plain values); Unsupported (a dtype
// libtorch cannot hold, the legacy pre-1.6 torch.save format).
TensorFile read_tensor_file(const std::string& path);

}  // namespace gen
