// A minimal, strict ZIP reader for the archives torch.save writes (PyTorch >= 1.6):
// stored (uncompressed) entries, usually zip64, all under one top folder such as
// `archive/` or the file's stem. No libtorch, no zlib.
//
// The whole file is memory-mapped read-only. Every offset and size in the end of
// central directory records, the central directory and the local headers is checked
// against the file size with overflow-safe arithmetic when the archive is opened;
// anything inconsistent is an ErrorCode::InvalidFormat naming the file and the
// problem. Compressed entries are listed but their bytes are refused
// (ErrorCode::Unsupported, naming the entry).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gen::io {

struct ZipEntry {
  std::string name;
  std::uint16_t flags = 0;            // general purpose bit flags
  std::uint16_t method = 0;           // 0 = stored, 8 = deflated, ...
  std::uint32_t crc32 = 0;            // of the uncompressed bytes
  std::uint64_t compressed_size = 0;  // bytes in the archive
  std::uint64_t size = 0;             // bytes once uncompressed
  std::uint64_t header_offset = 0;    // local file header
  std::uint64_t data_offset = 0;      // first byte of the (compressed) data
};

class ZipReader {
 public:
  // Maps and validates `path`. NotFound / Io when it cannot be opened,
  // InvalidFormat when it is not a well-formed ZIP archive.
  static ZipReader open(const std::string& path);
  // Validates an archive held in memory; `bytes` must outlive the reader.
  // `subject` names it in errors.
  static ZipReader from_memory(const std::uint8_t* bytes, std::size_t size,
                               const std::string& subject);

  const std::string& path() const noexcept { return subject_; }
  std::uint64_t file_size() const noexcept { return size_; }
  const std::vector<ZipEntry>& entries() const noexcept { return entries_; }

  const ZipEntry* find(const std::string& name) const noexcept;
  // Like find, but InvalidFormat naming the entry when it is absent.
  const ZipEntry& entry(const std::string& name) const;

  // The bytes of a stored entry (entry.size of them), inside the mapping.
  // Unsupported for compressed or encrypted entries.
  const std::uint8_t* data(const ZipEntry& entry) const;
  // Recomputes the CRC-32 of a stored entry; InvalidFormat on mismatch.
  void verify_crc(const ZipEntry& entry) const;

  // True when the bytes start with a local file header signature ("PK\3\4").
  static bool has_signature(const std::uint8_t* bytes, std::size_t size) noexcept;

 private:
  void parse();

  std::string subject_;
  std::shared_ptr<const void> keep_;  // the mapping, when this reader owns one
  const std::uint8_t* base_ = nullptr;
  std::uint64_t size_ = 0;
  std::vector<ZipEntry> entries_;
  std::map<std::string, std::size_t> index_;
};

// CRC-32 (IEEE 802.3, as in ZIP), continuing from `crc` (0 to start).
std::uint32_t crc32(const std::uint8_t* bytes, std::size_t size, std::uint32_t crc = 0) noexcept;

}  // namespace gen::io
