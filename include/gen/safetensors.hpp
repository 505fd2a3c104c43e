// gen — safetensors files: a strict, memory-mapped reader and an atomic writer.
// No libtorch types here: a tensor is a dtype, a shape and a pointer into the mapping.
#pragma once

#include "gen/export.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gen {

// Every dtype of the safetensors format. F32, F16 and BF16 are usable by the
// engine; the others are recognised (and named in errors) but not computed with.
enum class DType {
  BOOL, U8, I8, I16, U16, I32, U32, I64, U64,
  F16, BF16, F32, F64,
  F8_E4M3, F8_E5M2, F8_E8M0, F6_E2M3, F6_E3M2, F4, C64,
  F8_E4M3FNUZ, F8_E5M2FNUZ,
};

GEN_API const char* dtype_name(DType dtype) noexcept;           // the format's spelling, "F16"
GEN_API bool dtype_from_name(const std::string& name, DType& out) noexcept;
// Size in bits of one element (F4 is 4, F6_* are 6; others a multiple of 8).
GEN_API std::size_t dtype_bits(DType dtype) noexcept;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets relative to the start of the data buffer
  std::uint64_t end = 0;
  std::uint64_t numel() const noexcept;
  std::uint64_t nbytes() const noexcept { return end - begin; }
};

// A parsed header: tensors in file order (sorted by offset) and the metadata map.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  std::uint64_t header_size = 0;  // N, the JSON length
  std::uint64_t data_size = 0;    // bytes of the data buffer
};

// Validates the first bytes of a file (8-byte length + JSON header) against the
// whole file size and returns the header. Throws gen::Error (InvalidFormat /
// Unsupported) naming `subject` and the rule broken. Never reads past `size`.
GEN_API SafetensorsHeader parse_safetensors_header(const std::uint8_t* bytes, std::size_t size,
                                           std::uint64_t file_size, const std::string& subject);

namespace io {
class MappedFile;  // internal: the file mapping that tensor data points into
}

// One .safetensors file, memory-mapped copy-on-write (writes through a pointer
// never reach the file). Tensors point into the mapping: nothing is copied.
class GEN_API SafetensorsFile {
 public:
  // Throws gen::Error: NotFound (no such file), InvalidArgument (a folder, a
  // pipe...), Io (permissions, I/O), InvalidFormat / Unsupported (the header).
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const noexcept { return path_; }
  const SafetensorsHeader& header() const noexcept { return header_; }
  const std::vector<TensorInfo>& tensors() const noexcept { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const noexcept { return header_.metadata; }

  bool contains(const std::string& name) const noexcept;
  const TensorInfo& info(const std::string& name) const;  // NotFound if absent
  void* data(const std::string& name) const;              // pointer into the mapping
  void* data(const TensorInfo& info) const;
  // Keeps the mapping alive (e.g. for tensors created on top of it).
  std::shared_ptr<io::MappedFile> mapping() const noexcept { return map_; }

 private:
  std::string path_;
  SafetensorsHeader header_;
  std::shared_ptr<io::MappedFile> map_;
  std::map<std::string, std::size_t> index_;
};

// A checkpoint made of one file or of shards listed in a `*.safetensors.index.json`
// (`weight_map`: tensor name → shard file). Opened from the .safetensors file, the
// index file, or a folder holding exactly one of either.
// Every shard is opened and validated; a tensor listed in the index but absent
// from its shard, present in two shards, or present in a shard but not listed is
// an InvalidFormat error. Shard names are relative to the index's folder.
class GEN_API SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open(const std::string& path);

  const std::string& path() const noexcept { return path_; }
  std::vector<std::string> names() const;  // every tensor name, sorted
  bool contains(const std::string& name) const noexcept;
  const TensorInfo& info(const std::string& name) const;
  void* data(const std::string& name) const;
  std::shared_ptr<io::MappedFile> mapping(const std::string& name) const;
  // Metadata of the first shard (shards usually share it).
  const std::map<std::string, std::string>& metadata() const noexcept;
  const std::vector<SafetensorsFile>& files() const noexcept { return files_; }

 private:
  std::string path_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t> where_;  // tensor name → index in files_
};

// A tensor to write: the bytes are taken as they are (row-major, little-endian).
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t nbytes = 0;  // must equal numel × element size
};

// Writes a file the reference implementation accepts (header padded with spaces
// to a multiple of 8; tensors ordered by element size, largest first, then by
// name, so each one's data is aligned to its element size). Atomic: the file
// appears complete under `path` or not at all. Throws gen::Error: InvalidArgument
// for bad inputs (empty or repeated names, nbytes != numel × element size, data
// missing), NotFound if the folder is missing, Io if writing fails.
GEN_API void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace gen
