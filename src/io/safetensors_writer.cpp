// write_safetensors: validate the inputs, then write atomically (temp file in the
// same folder, fsync, rename, fsync the folder).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "gen/safetensors.hpp"
#include "io/safetensors_internal.hpp"

namespace gen {

namespace st = io::st;
using io::MappedFile;
namespace {

std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump();  // escapes; input is already checked to be UTF-8
}

void check_utf8(const std::string& path, const std::string& what, const std::string& s) {
  std::size_t bad = 0;
  if (!st::valid_utf8(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), bad))
    fail(ErrorCode::InvalidArgument, path, what + " " + st::quote(s) + " is not valid UTF-8");
}


}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  if (path.empty()) fail(ErrorCode::InvalidArgument, "(empty path)", "no output file name given");

  // Validate every input before touching the disk.
  std::set<std::string> names;
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorData& t = tensors[i];
    order[i] = i;
    if (t.name.empty()) fail(ErrorCode::InvalidArgument, path, "a tensor has an empty name");
    if (t.name == "__metadata__")
      fail(ErrorCode::InvalidArgument, path, "'__metadata__' is reserved and cannot name a tensor");
    check_utf8(path, "tensor name", t.name);
    if (!names.insert(t.name).second)
      fail(ErrorCode::InvalidArgument, path, "tensor name " + st::quote(t.name) + " given twice");
    if (dtype_bits(t.dtype) == 0)
      fail(ErrorCode::InvalidArgument, path, "tensor " + st::quote(t.name) + ": invalid dtype");
    std::uint64_t need = 0;
    std::string why;
    if (!st::tensor_nbytes(t.dtype, t.shape, need, why))
      fail(ErrorCode::InvalidArgument, path, "tensor " + st::quote(t.name) + ": " + why);
    if (need != t.nbytes)
      fail(ErrorCode::InvalidArgument, path,
           "tensor " + st::quote(t.name) + ": " + std::to_string(t.nbytes) + " bytes given but " +
               dtype_name(t.dtype) + " shape " + st::shape_string(t.shape) + " needs " +
               std::to_string(need));
    if (t.nbytes > 0 && t.data == nullptr)
      fail(ErrorCode::InvalidArgument, path, "tensor " + st::quote(t.name) + ": no data pointer");
  }
  for (const auto& kv : metadata) {
    check_utf8(path, "metadata key", kv.first);
    check_utf8(path, "metadata value of key", kv.second);
  }

  // Larger elements first, then by name: with the header a multiple of 8 bytes
  // every tensor starts aligned to its element size (as the reference does).
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const std::size_t ba = dtype_bits(tensors[a].dtype), bb = dtype_bits(tensors[b].dtype);
    if (ba != bb) return ba > bb;
    return tensors[a].name < tensors[b].name;
  });

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& kv : metadata) {
      if (!first) header += ",";
      first = false;
      header += json_string(kv.first) + ":" + json_string(kv.second);
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const TensorData& t = tensors[i];
    if (header.size() > 1) header += ",";
    std::string shape;
    for (std::size_t d = 0; d < t.shape.size(); ++d)
      shape += (d ? "," : "") + std::to_string(t.shape[d]);
    if (t.nbytes > UINT64_MAX - offset) fail(ErrorCode::InvalidArgument, path, "tensors too large");
    header += json_string(t.name) + ":{\"dtype\":\"" + dtype_name(t.dtype) + "\",\"shape\":[" +
              shape + "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + t.nbytes) + "]}";
    offset += t.nbytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > st::kMaxHeaderSize)
    fail(ErrorCode::InvalidArgument, path,
         "header would be " + std::to_string(header.size()) + " bytes, over the " +
             std::to_string(st::kMaxHeaderSize) + "-byte limit readers accept");

  // Written atomically: nothing appears under `path` unless every byte made it.
  AtomicFile out(path);
  unsigned char len[8];
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  out.write(len, sizeof len);
  out.write(header.data(), header.size());
  for (std::size_t i : order) out.write(tensors[i].data, tensors[i].nbytes);
  out.commit();
}

}  // namespace gen
