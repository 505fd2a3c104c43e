// Shared by src/image/*.cpp only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gen/error.hpp"
#include "gen/image.hpp"

namespace gen::image_detail {

// Throws `code` naming `subject` when a width x height size is 0 or over the caps.
void check_size(std::uint64_t width, std::uint64_t height, const std::string& subject,
                ErrorCode code_if_zero, ErrorCode code_if_too_large);

// Text encodings. utf8_to_latin1 fails (returns false) on invalid UTF-8 or a
// code point above U+00FF.
bool valid_utf8(const std::string& s) noexcept;
bool utf8_to_latin1(const std::string& in, std::string& out);
std::string latin1_to_utf8(const char* p, std::size_t n);

// The Orientation tag (0x0112) of IFD0 in TIFF-structured EXIF data starting at
// its byte-order mark ("II*\0" / "MM\0*"); 1 when absent, malformed or out of 1..8.
int exif_orientation(const std::uint8_t* tiff, std::size_t size) noexcept;

// Replaces `path` with `bytes` atomically (temp file in the same folder, fsync,
// rename, fsync the folder). No file is left behind on error.
void write_file_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes);

// Decoders, given the whole file. `keep_pixels` false: decode and discard rows
// (PNG text reading); the returned image is then empty.
ImageFile decode_png(const std::uint8_t* data, std::size_t size, const std::string& subject,
                     bool keep_pixels);
ImageFile decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& subject);

std::vector<std::uint8_t> encode_jpeg(const Image& rgb_or_grey8, int quality,
                                      const std::string& subject);

}  // namespace gen::image_detail
