// The allow-list hooks that let the pickle reader understand torch.save pickles
// (internal to torch_checkpoint.cpp; the rules are documented in torch_checkpoint.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gen/safetensors.hpp"
#include "io/pickle_reader.hpp"
#include "io/zip_reader.hpp"

namespace gen::io {
namespace torchpk {

struct StorageRef {
  DType dtype = DType::U8;  // of the typed storage (U8 for an untyped one)
  bool untyped = false;
  std::size_t entry = 0;     // index into the archive's entries
  std::string key;
  std::uint64_t nbytes = 0;  // bytes declared by the persistent id (<= entry size)
};

struct TensorRef {
  DType dtype = DType::F32;
  std::size_t storage = 0;  // index into storages
  std::uint64_t offset = 0;
  std::vector<std::int64_t> shape, stride;
};

// Bytes per element of the dtypes torch storages hold here.
std::size_t element_size(DType dtype) noexcept;

class TorchHooks : public pickle::PickleHooks {
 public:
  // `zip` and `prefix` (the archive's top folder with its '/') locate storages.
  // Without an archive (scan_only), persistent ids and tensors become None: the
  // pickle is only checked for disallowed globals and calls.
  TorchHooks(std::string subject, const ZipReader* zip, std::string prefix)
      : subject_(std::move(subject)), zip_(zip), prefix_(std::move(prefix)) {}

  pickle::Value* find_class(pickle::Arena& arena, const std::string& module,
                            const std::string& name) override;
  pickle::Value* call(pickle::Arena& arena, pickle::Value* callable, pickle::Value* args,
                      const char* opcode) override;
  void build(pickle::Arena& arena, pickle::Value* object, pickle::Value* state) override;
  pickle::Value* persistent_load(pickle::Arena& arena, pickle::Value* pid) override;

  const std::vector<StorageRef>& storages() const noexcept { return storages_; }
  const std::vector<TensorRef>& tensors() const noexcept { return tensors_; }

 private:
  [[noreturn]] void unsafe(const std::string& problem) const;
  [[noreturn]] void bad(const std::string& problem) const;
  pickle::Value* rebuild_tensor(pickle::Arena& arena, pickle::Value* args, bool v3);

  std::string subject_;
  const ZipReader* zip_;
  std::string prefix_;
  std::vector<StorageRef> storages_;
  std::vector<TensorRef> tensors_;
};

}  // namespace torchpk
}  // namespace gen::io
