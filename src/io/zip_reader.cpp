#include "io/zip_reader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/fail.hpp"
#include "core/files.hpp"

namespace gen::io {
namespace {

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEocdSig = 0x06054b50;
constexpr std::uint32_t kZip64EocdSig = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::uint64_t kEocdSize = 22;
constexpr std::uint64_t kZip64LocatorSize = 20;
constexpr std::uint64_t kZip64EocdMinSize = 56;
constexpr std::uint64_t kCentralSize = 46;
constexpr std::uint64_t kLocalSize = 30;

std::uint16_t rd16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t rd32(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t rd64(const std::uint8_t* p) noexcept {
  return static_cast<std::uint64_t>(rd32(p)) | (static_cast<std::uint64_t>(rd32(p + 4)) << 32);
}

// [offset, offset + length) lies within [0, limit), without overflow.
bool in_range(std::uint64_t offset, std::uint64_t length, std::uint64_t limit) noexcept {
  return offset <= limit && length <= limit - offset;
}

std::string quoted(const std::string& name) {
  std::string out = "'";
  for (char c : name.substr(0, 200)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  if (name.size() > 200) out += "...";
  return out + "'";
}

struct Mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  ~Mapping() {
    if (addr != nullptr) ::munmap(addr, size);
  }
};


}  // namespace

ZipReader ZipReader::open(const std::string& path) {
  std::size_t size = 0;
  const core::Fd f = core::open_input(path, &size);  // never blocks; regular files only
  if (size == 0) fail(ErrorCode::InvalidFormat, path, "empty file, not a ZIP archive");
  auto map = std::make_shared<Mapping>();
  map->size = size;
  void* addr = ::mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, f.get(), 0);
  if (addr == MAP_FAILED) fail(ErrorCode::Io, path, std::string("cannot map: ") + std::strerror(errno));
  map->addr = addr;
  ZipReader z;
  z.subject_ = path;
  z.base_ = static_cast<const std::uint8_t*>(addr);
  z.size_ = map->size;
  z.keep_ = map;
  z.parse();
  return z;
}

ZipReader ZipReader::from_memory(const std::uint8_t* bytes, std::size_t size,
                                 const std::string& subject) {
  ZipReader z;
  z.subject_ = subject;
  z.base_ = bytes;
  z.size_ = size;
  if (bytes == nullptr && size != 0) fail(ErrorCode::InvalidArgument, subject, "null buffer");
  z.parse();
  return z;
}

bool ZipReader::has_signature(const std::uint8_t* bytes, std::size_t size) noexcept {
  return size >= 4 && rd32(bytes) == kLocalSig;
}

void ZipReader::parse() {
  const std::uint8_t* b = base_;
  const std::uint64_t n = size_;
  auto bad = [&](const std::string& problem) { fail(ErrorCode::InvalidFormat, subject_, problem); };
  if (n < kEocdSize) bad("too small to be a ZIP archive (" + std::to_string(n) + " bytes)");

  // End of central directory: the last record whose comment ends exactly at the end of the file.
  std::uint64_t eocd = 0;
  bool found = false;
  const std::uint64_t lowest = n - kEocdSize > 0xFFFF ? n - kEocdSize - 0xFFFF : 0;
  for (std::uint64_t pos = n - kEocdSize + 1; pos-- > lowest;) {
    if (rd32(b + pos) == kEocdSig && pos + kEocdSize + rd16(b + pos + 20) == n) {
      eocd = pos;
      found = true;
      break;
    }
  }
  if (!found) bad("no end of central directory record (not a ZIP archive, or truncated)");

  std::uint64_t disk = rd16(b + eocd + 4), cd_disk = rd16(b + eocd + 6);
  std::uint64_t count_disk = rd16(b + eocd + 8), count = rd16(b + eocd + 10);
  std::uint64_t cd_size = rd32(b + eocd + 12), cd_offset = rd32(b + eocd + 16);
  std::uint64_t cd_limit = eocd;  // the central directory ends before the next record

  const bool has_locator = eocd >= kZip64LocatorSize &&
                           rd32(b + eocd - kZip64LocatorSize) == kZip64LocatorSig;
  if (has_locator) {
    const std::uint8_t* loc = b + eocd - kZip64LocatorSize;
    const std::uint64_t loc_pos = eocd - kZip64LocatorSize;
    if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1) bad("multi-disk (spanned) ZIP archives are not supported");
    const std::uint64_t z = rd64(loc + 8);
    if (!in_range(z, kZip64EocdMinSize, loc_pos))
      bad("zip64 end of central directory offset " + std::to_string(z) + " is outside the file");
    if (rd32(b + z) != kZip64EocdSig) bad("no zip64 end of central directory record where the locator points");
    const std::uint64_t rec = rd64(b + z + 4);
    if (rec < kZip64EocdMinSize - 12 || !in_range(z + 12, rec, loc_pos))
      bad("zip64 end of central directory record has a bad size");
    disk = rd32(b + z + 16);
    cd_disk = rd32(b + z + 20);
    count_disk = rd64(b + z + 24);
    count = rd64(b + z + 32);
    cd_size = rd64(b + z + 40);
    cd_offset = rd64(b + z + 48);
    cd_limit = z;
  } else if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
    bad("zip64 values announced but no zip64 end of central directory locator");
  }
  if (disk != 0 || cd_disk != 0) bad("multi-disk (spanned) ZIP archives are not supported");
  if (count_disk != count) bad("entry counts disagree in the end of central directory record");
  if (!in_range(cd_offset, cd_size, cd_limit))
    bad("central directory (offset " + std::to_string(cd_offset) + ", " + std::to_string(cd_size) +
        " bytes) is outside the file");
  if (count > cd_size / kCentralSize)
    bad(std::to_string(count) + " entries cannot fit in a central directory of " +
        std::to_string(cd_size) + " bytes");

  entries_.clear();
  index_.clear();
  entries_.reserve(static_cast<std::size_t>(count));
  const std::uint64_t cd_end = cd_offset + cd_size;
  std::uint64_t p = cd_offset;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::string where = "central directory entry " + std::to_string(i);
    if (!in_range(p, kCentralSize, cd_end)) bad(where + " extends past the central directory");
    const std::uint8_t* c = b + p;
    if (rd32(c) != kCentralSig) bad(where + " has no central directory signature");
    ZipEntry e;
    e.flags = rd16(c + 8);
    e.method = rd16(c + 10);
    e.crc32 = rd32(c + 16);
    e.compressed_size = rd32(c + 20);
    e.size = rd32(c + 24);
    const std::uint64_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
    std::uint64_t start_disk = rd16(c + 34);
    e.header_offset = rd32(c + 42);
    if (!in_range(p + kCentralSize, name_len + extra_len + comment_len, cd_end))
      bad(where + " has a name or extra field past the central directory");
    e.name.assign(reinterpret_cast<const char*>(c + kCentralSize), static_cast<std::size_t>(name_len));
    if (e.name.empty()) bad(where + " has an empty name");
    if (e.name.find('\0') != std::string::npos) bad(where + " has a NUL byte in its name");
    const std::string what = "entry " + quoted(e.name);

    // Zip64 extended information: the 64-bit values of the fields saturated above.
    const std::uint8_t* x = c + kCentralSize + name_len;
    std::uint64_t xo = 0;
    while (xo < extra_len) {
      if (extra_len - xo < 4) bad(what + " has a truncated extra field");
      const std::uint16_t id = rd16(x + xo), len = rd16(x + xo + 2);
      if (len > extra_len - xo - 4) bad(what + " has an extra field longer than its area");
      if (id == 0x0001) {
        const std::uint8_t* f = x + xo + 4;
        std::uint64_t left = len;
        auto take = [&](std::uint64_t& field, std::uint64_t saturated, unsigned bytes) {
          if (field != saturated) return;
          if (left < bytes) bad(what + " has a zip64 extra field that is too short");
          field = bytes == 8 ? rd64(f) : rd32(f);
          f += bytes;
          left -= bytes;
        };
        take(e.size, 0xFFFFFFFFu, 8);
        take(e.compressed_size, 0xFFFFFFFFu, 8);
        take(e.header_offset, 0xFFFFFFFFu, 8);
        take(start_disk, 0xFFFF, 4);
      }
      xo += 4 + static_cast<std::uint64_t>(len);
    }
    if (start_disk != 0) bad(what + " starts on another disk (spanned archive)");
    p += kCentralSize + name_len + extra_len + comment_len;

    // The local header: same name; the data follows it and ends before the central directory.
    if (!in_range(e.header_offset, kLocalSize, cd_offset))
      bad(what + " has its local header outside the file data (offset " +
          std::to_string(e.header_offset) + ")");
    const std::uint8_t* l = b + e.header_offset;
    if (rd32(l) != kLocalSig) bad(what + " has no local file header signature at its offset");
    const std::uint64_t lname = rd16(l + 26), lextra = rd16(l + 28);
    if (!in_range(e.header_offset + kLocalSize, lname + lextra, cd_offset))
      bad(what + " has a local header past the file data");
    if (lname != name_len || std::memcmp(l + kLocalSize, e.name.data(), e.name.size()) != 0)
      bad(what + " has a different name in its local header");
    e.data_offset = e.header_offset + kLocalSize + lname + lextra;
    if (!in_range(e.data_offset, e.compressed_size, cd_offset))
      bad(what + " (" + std::to_string(e.compressed_size) + " bytes at offset " +
          std::to_string(e.data_offset) + ") extends past the file data; the archive is truncated or corrupt");
    if (e.method == 0 && e.compressed_size != e.size)
      bad(what + " is stored uncompressed but its two sizes differ");
    if (!index_.emplace(e.name, entries_.size()).second) bad(what + " appears twice");
    entries_.push_back(std::move(e));
  }
  if (p != cd_end) bad("central directory size does not match its entries");
}

const ZipEntry* ZipReader::find(const std::string& name) const noexcept {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const ZipEntry& ZipReader::entry(const std::string& name) const {
  const ZipEntry* e = find(name);
  if (e == nullptr) fail(ErrorCode::InvalidFormat, subject_, "no entry " + quoted(name) + " in the archive");
  return *e;
}

const std::uint8_t* ZipReader::data(const ZipEntry& e) const {
  if ((e.flags & 0x1) != 0) fail(ErrorCode::Unsupported, subject_, "entry " + quoted(e.name) + " is encrypted");
  if (e.method != 0) {
    const std::string how = e.method == 8 ? "deflate-compressed"
                                          : "compressed (method " + std::to_string(e.method) + ")";
    fail(ErrorCode::Unsupported, subject_,
         "entry " + quoted(e.name) + " is " + how +
             "; torch.save writes stored entries only - re-save the checkpoint with torch.save");
  }
  // Re-checked here so that a ZipEntry not from this archive cannot point outside it.
  if (!in_range(e.data_offset, e.size, size_))
    fail(ErrorCode::InvalidFormat, subject_, "entry " + quoted(e.name) + " is outside the file");
  return base_ + e.data_offset;
}

void ZipReader::verify_crc(const ZipEntry& e) const {
  const std::uint8_t* d = data(e);
  if (crc32(d, static_cast<std::size_t>(e.size)) != e.crc32)
    fail(ErrorCode::InvalidFormat, subject_, "entry " + quoted(e.name) + " fails its CRC-32 check (corrupt file)");
}

std::uint32_t crc32(const std::uint8_t* p, std::size_t size, std::uint32_t crc) noexcept {
  // zlib's CRC-32 (the ZIP one), in pieces its 32-bit length can take.
  uLong c = crc;
  while (size > 0) {
    const uInt n = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
    c = ::crc32(c, p, n);
    p += n;
    size -= n;
  }
  return static_cast<std::uint32_t>(c);
}

}  // namespace gen::io
