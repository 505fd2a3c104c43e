// Reading the tensors of a torch.save checkpoint (.ckpt / .pth / .pt / .bin)
// without executing it: the ZIP archive (zip_reader.hpp) is opened, its data.pkl
// run through the non-executing pickle reader (pickle_reader.hpp) with an
// allow-list of the few constructors torch.save uses, and the tensors are found in
// the resulting tree.
//
// Allow-list (anything else that the pickle imports is refused with
// ErrorCode::UnsafeContent naming "module.qualname"):
//   collections.OrderedDict            called with () or a list of pairs; BUILD on
//                                      it (the `_metadata` of a state dict) is ignored
//   torch._utils._rebuild_tensor_v2    (storage, offset, size, stride, requires_grad,
//                                       hooks[, metadata])
//   torch._utils._rebuild_tensor_v3    (... , dtype[, metadata]) for uint16/32/64 and fp8
//   torch._utils._rebuild_parameter    nn.Parameter: the tensor itself
//   torch._utils._rebuild_parameter_with_state   same; the attribute state is ignored
//   torch.Size                         a tuple
//   _codecs.encode                     (str, 'latin1'): bytes, as protocol-2 pickles write them
//   torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage,
//   torch.storage.UntypedStorage       only as the type inside a persistent id
//   torch.<dtype> (float32, uint16, float8_e4m3fn, ...)  only as an argument
// Persistent ids ('storage', <storage type>, key, location, numel) resolve to the
// archive entry `<top folder>/data/<key>`. Calling a storage type or dtype, calling
// anything that is not a global, NEWOBJ/INST/OBJ of anything but OrderedDict and
// BUILD on anything but a dict are refused (UnsafeContent).
//
// Which entries become tensors ("the flattening rule"):
//   * The pickled object must be a dict.
//   * If that dict has no tensor at its first level but one of the wrapper keys
//     "state_dict", "model_state_dict", "module", "model", "params_ema", "params" (tried
//     in this order) holds a dict, that dict is used and the other top-level entries are
//     dropped (e.g. Lightning's 'global_step', 'epoch', 'optimizer_states').
//   * Nested dicts (and lists / tuples that hold tensors) are walked; names are the
//     keys joined with '.', list positions written as decimal indices.
//   * Everything that is not a tensor (numbers, strings, None, a dict or list
//     without tensors, a bare storage) is dropped and reported, not refused.
//   * Two tensors that flatten to the same name are an InvalidFormat error.
//   * Containers held more than once (DUP, the memo) are walked once per path, so the
//     walk is bounded by the pickle's size: at most 16 visits and 64 bytes of names a
//     byte (InvalidFormat past that), and the non-contiguous tensors, which are copied
//     out, together at most the file's size plus 64 MiB, and all tensors together at most
//     twice the file's size plus 64 MiB (Unsupported past either).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gen/safetensors.hpp"
#include "io/zip_reader.hpp"

namespace gen::io {

struct TorchTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> stride;  // in elements
  std::uint64_t offset = 0;          // storage offset, in elements
  std::size_t entry = 0;             // index of the storage's entry in the archive
  std::string storage_key;

  std::uint64_t numel() const noexcept;
  std::uint64_t nbytes() const noexcept;  // of the contiguous tensor
  bool contiguous() const noexcept;       // row-major, no gaps (sizes of 1 ignored)
};

// Something found beside the tensors and left out.
struct DroppedEntry {
  std::string name;  // dotted name, as a tensor there would have been named
  std::string what;  // "int 5", "dict of 3 (no tensors)", ...
};

struct TorchCheckpoint {
  std::string path;
  std::shared_ptr<const ZipReader> zip;
  std::string root;  // the wrapper key descended into ("state_dict"), or ""
  std::vector<TorchTensor> tensors;   // in the order the pickle holds them
  std::vector<DroppedEntry> dropped;  // likewise
};

// Reads a torch.save file. Errors (gen::Error, naming the file):
//   UnsafeContent  a global outside the allow-list, a disallowed call or BUILD
//   InvalidFormat  a malformed archive or pickle, a tensor outside its storage
//   Unsupported    the legacy (pre-1.6) format, a bare pickle, big-endian data,
//                  compressed entries, a tensor dtype gen has no name for
//   NotFound / Io  the file cannot be read
TorchCheckpoint read_torch_checkpoint(const std::string& path);
// The same for an archive already opened (e.g. from memory, in tests).
TorchCheckpoint read_torch_checkpoint(std::shared_ptr<const ZipReader> zip);

// The contiguous row-major bytes of `t` (t.nbytes() of them): a pointer into the
// archive when the tensor is contiguous there, else gathered into `scratch`.
const std::uint8_t* torch_tensor_bytes(const TorchCheckpoint& ckpt, const TorchTensor& t,
                                       std::vector<std::uint8_t>& scratch);

// Checks the CRC-32 of every storage a tensor uses (InvalidFormat on corruption).
void verify_torch_storages(const TorchCheckpoint& ckpt);

}  // namespace gen::io
