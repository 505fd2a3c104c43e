// gen — SHA-256 (FIPS 180-4) of bytes and of files, for the hashes A1111 writes into its
// infotext (`Lora hashes`, `TI hashes`: the first 12 hex digits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gen {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  std::string hex();  // finishes; the object is spent afterwards

 private:
  void block(const std::uint8_t* p);
  std::uint32_t h_[8];
  std::uint8_t buf_[64];
  std::size_t fill_ = 0;
  std::uint64_t bytes_ = 0;
};

// The hex SHA-256 of a file's bytes from `offset` on. Throws NotFound / Io naming the file.
std::string sha256_file(const std::string& path, std::uint64_t offset = 0);

// kohya-ss / sd-webui-additional-networks' hash of a .safetensors file, which A1111 uses for
// LoRAs: the SHA-256 of the bytes after the header (8-byte length + JSON), so that editing
// the metadata does not change it.
std::string addnet_hash_safetensors(const std::string& path);

}  // namespace gen
