// Image buffers, pixel conversions, format detection and the file-level entry
// points (read, atomic write). The codecs are in png.cpp and jpeg.cpp.
#include "gen/image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <new>

#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "image/image_internal.hpp"
#include "io/mapped_file.hpp"

namespace gen {
namespace image_detail {

void check_size(std::uint64_t width, std::uint64_t height, const std::string& subject,
                ErrorCode code_if_zero, ErrorCode code_if_too_large) {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width == 0 || height == 0) fail(code_if_zero, subject, "image size " + size + " is empty");
  if (width > static_cast<std::uint64_t>(kMaxImageSide) ||
      height > static_cast<std::uint64_t>(kMaxImageSide) || width * height > kMaxImagePixels)
    fail(code_if_too_large, subject,
         "image size " + size + " is over gen's limit (" + std::to_string(kMaxImagePixels) +
             " pixels, e.g. 16384x16384, and at most " + std::to_string(kMaxImageSide) +
             " on a side)");
}

namespace {

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i,
// or returns -1 on an invalid, overlong or surrogate sequence.
long next_code_point(const std::string& s, std::size_t& i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned c = b(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  int n;
  long cp, min;
  if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07, min = 0x10000;
  else return -1;
  if (i + static_cast<std::size_t>(n) >= s.size()) return -1;
  for (int k = 1; k <= n; ++k) {
    const unsigned d = b(i + k);
    if ((d & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (d & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += static_cast<std::size_t>(n) + 1;
  return cp;
}

}  // namespace

bool valid_utf8(const std::string& s) noexcept {
  for (std::size_t i = 0; i < s.size();)
    if (next_code_point(s, i) < 0) return false;
  return true;
}

bool utf8_to_latin1(const std::string& in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size();) {
    const long cp = next_code_point(in, i);
    if (cp < 0 || cp > 0xFF) return false;
    out += static_cast<char>(cp);
  }
  return true;
}

std::string latin1_to_utf8(const char* p, std::size_t n) {
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

int exif_orientation(const std::uint8_t* p, std::size_t n) noexcept {
  if (n >= 6 && std::memcmp(p, "Exif\0\0", 6) == 0) p += 6, n -= 6;
  if (n < 8) return 1;
  bool le;
  if (p[0] == 'I' && p[1] == 'I' && p[2] == 42 && p[3] == 0) le = true;
  else if (p[0] == 'M' && p[1] == 'M' && p[2] == 0 && p[3] == 42) le = false;
  else return 1;
  const auto u16 = [&](std::size_t o) -> unsigned {
    return le ? (p[o] | (p[o + 1] << 8)) : ((p[o] << 8) | p[o + 1]);
  };
  const auto u32 = [&](std::size_t o) -> std::uint32_t {
    return le ? (std::uint32_t(u16(o)) | (std::uint32_t(u16(o + 2)) << 16))
              : ((std::uint32_t(u16(o)) << 16) | std::uint32_t(u16(o + 2)));
  };
  const std::uint32_t ifd = u32(4);
  if (ifd < 8 || ifd > n - 2) return 1;
  const unsigned count = u16(ifd);
  for (unsigned e = 0; e < count; ++e) {
    const std::size_t at = ifd + 2 + std::size_t(e) * 12;
    if (at + 12 > n) return 1;
    if (u16(at) != 0x0112) continue;
    if (u16(at + 2) != 3 || u32(at + 4) < 1) return 1;  // SHORT, at least one value
    const unsigned v = u16(at + 8);
    return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
  }
  return 1;
}

void write_file_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gen::write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace image_detail

using image_detail::check_size;

// ---------------------------------------------------------------- Image

Image Image::make(int width, int height, int channels, int bit_depth) {
  check_size(width < 0 ? 0 : static_cast<std::uint64_t>(width),
             height < 0 ? 0 : static_cast<std::uint64_t>(height), "image", ErrorCode::InvalidArgument,
             ErrorCode::InvalidArgument);
  if (channels < 1 || channels > 4)
    fail(ErrorCode::InvalidArgument, "image", "channels must be 1 to 4, not " + std::to_string(channels));
  if (bit_depth != 8 && bit_depth != 16)
    fail(ErrorCode::InvalidArgument, "image", "bit depth must be 8 or 16, not " + std::to_string(bit_depth));
  Image im;
  im.width = width;
  im.height = height;
  im.channels = channels;
  im.bit_depth = bit_depth;
  if (bit_depth == 8) im.data8.assign(im.sample_count(), 0);
  else im.data16.assign(im.sample_count(), 0);
  return im;
}

void check_image(const Image& image, const std::string& subject) {
  check_size(image.width < 0 ? 0 : static_cast<std::uint64_t>(image.width),
             image.height < 0 ? 0 : static_cast<std::uint64_t>(image.height), subject,
             ErrorCode::InvalidArgument, ErrorCode::InvalidArgument);
  if (image.channels < 1 || image.channels > 4)
    fail(ErrorCode::InvalidArgument, subject, "channels must be 1 to 4, not " + std::to_string(image.channels));
  if (image.bit_depth != 8 && image.bit_depth != 16)
    fail(ErrorCode::InvalidArgument, subject,
         "bit depth must be 8 or 16, not " + std::to_string(image.bit_depth));
  const std::size_t want = image.sample_count();
  const std::size_t have8 = image.data8.size(), have16 = image.data16.size();
  const bool ok = image.bit_depth == 8 ? (have8 == want && have16 == 0) : (have16 == want && have8 == 0);
  if (!ok)
    fail(ErrorCode::InvalidArgument, subject,
         "pixel data does not match " + std::to_string(image.width) + "x" + std::to_string(image.height) +
             "x" + std::to_string(image.channels) + " at " + std::to_string(image.bit_depth) +
             " bits: expected " + std::to_string(want) + " samples, data8 has " + std::to_string(have8) +
             ", data16 " + std::to_string(have16));
}

// ---------------------------------------------------------------- conversions

namespace {

inline std::uint8_t round16to8(unsigned v) noexcept {
  return static_cast<std::uint8_t>((v * 255u + 32767u) / 65535u);
}

// Calls fn(pixel_index, r, g, b) with RGB in [0, 1] after compositing, in double.
template <class Fn>
void for_each_rgb(const Image& im, Rgb8 bg, Fn fn) {
  const std::size_t n = static_cast<std::size_t>(im.width) * static_cast<std::size_t>(im.height);
  const double scale = im.bit_depth == 16 ? 1.0 / 65535.0 : 1.0 / 255.0;
  const double bgc[3] = {bg.r / 255.0, bg.g / 255.0, bg.b / 255.0};
  const int c = im.channels;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t o = i * static_cast<std::size_t>(c);
    const auto s = [&](int k) -> double {
      return (im.bit_depth == 16 ? im.data16[o + k] : im.data8[o + k]) * scale;
    };
    double rgb[3];
    if (c <= 2) rgb[0] = rgb[1] = rgb[2] = s(0);
    else rgb[0] = s(0), rgb[1] = s(1), rgb[2] = s(2);
    if (c == 2 || c == 4) {
      const double a = s(c - 1);
      for (int k = 0; k < 3; ++k) rgb[k] = rgb[k] * a + bgc[k] * (1.0 - a);
    }
    fn(i, rgb[0], rgb[1], rgb[2]);
  }
}

}  // namespace

Image to_8bit(const Image& image) {
  check_image(image, "image");
  if (image.bit_depth == 8) return image;
  Image out = Image::make(image.width, image.height, image.channels, 8);
  for (std::size_t i = 0; i < out.data8.size(); ++i) out.data8[i] = round16to8(image.data16[i]);
  return out;
}

Image to_rgb8(const Image& image, Rgb8 bg) {
  check_image(image, "image");
  Image out = Image::make(image.width, image.height, 3, 8);
  const std::size_t n = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height);
  if (image.bit_depth == 8) {
    // Exact integer paths: (x + 127) / 255 rounds x / 255 to nearest (no ties).
    const std::uint8_t* s = image.data8.data();
    std::uint8_t* d = out.data8.data();
    const unsigned bgc[3] = {bg.r, bg.g, bg.b};
    switch (image.channels) {
      case 1:
        for (std::size_t i = 0; i < n; ++i) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
        break;
      case 2:
        for (std::size_t i = 0; i < n; ++i) {
          const unsigned v = s[2 * i], a = s[2 * i + 1];
          for (int k = 0; k < 3; ++k) d[3 * i + k] = static_cast<std::uint8_t>((v * a + bgc[k] * (255 - a) + 127) / 255);
        }
        break;
      case 3:
        std::memcpy(d, s, n * 3);
        break;
      default:
        for (std::size_t i = 0; i < n; ++i) {
          const unsigned a = s[4 * i + 3];
          for (int k = 0; k < 3; ++k)
            d[3 * i + k] = static_cast<std::uint8_t>((s[4 * i + k] * a + bgc[k] * (255 - a) + 127) / 255);
        }
    }
    return out;
  }
  if (!image.has_alpha()) {
    for (std::size_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k)
        out.data8[3 * i + k] = round16to8(image.data16[i * image.channels + (image.channels == 1 ? 0 : k)]);
    return out;
  }
  for_each_rgb(image, bg, [&](std::size_t i, double r, double g, double b) {
    out.data8[3 * i] = static_cast<std::uint8_t>(std::lround(r * 255.0));
    out.data8[3 * i + 1] = static_cast<std::uint8_t>(std::lround(g * 255.0));
    out.data8[3 * i + 2] = static_cast<std::uint8_t>(std::lround(b * 255.0));
  });
  return out;
}

std::vector<float> to_float_rgb(const Image& image, Rgb8 bg) {
  check_image(image, "image");
  std::vector<float> out(static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) * 3);
  for_each_rgb(image, bg, [&](std::size_t i, double r, double g, double b) {
    out[3 * i] = static_cast<float>(r);
    out[3 * i + 1] = static_cast<float>(g);
    out[3 * i + 2] = static_cast<float>(b);
  });
  return out;
}

Image image_from_float_rgb(const float* hwc, int width, int height) {
  Image out = Image::make(width, height, 3, 8);
  if (hwc == nullptr) fail(ErrorCode::InvalidArgument, "image", "no pixel data");
  for (std::size_t i = 0; i < out.data8.size(); ++i) {
    float x = hwc[i];
    if (!(x > 0.0f)) x = 0.0f;  // also NaN
    if (x > 1.0f) x = 1.0f;
    out.data8[i] = static_cast<std::uint8_t>(std::nearbyint(x * 255.0f));
  }
  return out;
}

Image apply_orientation(const Image& image, int orientation) {
  if (orientation <= 1 || orientation > 8) return image;
  check_image(image, "image");
  const int w = image.width, h = image.height, c = image.channels;
  const bool swap = orientation >= 5;
  Image out = Image::make(swap ? h : w, swap ? w : h, c, image.bit_depth);
  for (int Y = 0; Y < out.height; ++Y) {
    for (int X = 0; X < out.width; ++X) {
      int x = X, y = Y;
      switch (orientation) {
        case 2: x = w - 1 - X; break;                     // mirrored left-right
        case 3: x = w - 1 - X, y = h - 1 - Y; break;      // rotated 180
        case 4: y = h - 1 - Y; break;                     // mirrored top-bottom
        case 5: x = Y, y = X; break;                      // transposed
        case 6: x = Y, y = h - 1 - X; break;              // needs 90 clockwise
        case 7: x = w - 1 - Y, y = h - 1 - X; break;      // transversed
        case 8: x = w - 1 - Y, y = X; break;              // needs 90 counter-clockwise
      }
      const std::size_t d = (static_cast<std::size_t>(Y) * out.width + X) * c;
      const std::size_t s = (static_cast<std::size_t>(y) * w + x) * c;
      for (int k = 0; k < c; ++k) {
        if (image.bit_depth == 16) out.data16[d + k] = image.data16[s + k];
        else out.data8[d + k] = image.data8[s + k];
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- reading

namespace {

bool starts_with(const std::uint8_t* p, std::size_t n, const char* magic, std::size_t m) {
  return n >= m && std::memcmp(p, magic, m) == 0;
}

}  // namespace

ImageFile decode_image(const std::uint8_t* data, std::size_t size, const std::string& subject,
                       const ReadOptions& options) {
  static const char kPng[] = "\x89PNG\r\n\x1a\n";
  if (data == nullptr || size == 0) fail(ErrorCode::InvalidFormat, subject, "file is empty (0 bytes)");
  ImageFile file;
  if (starts_with(data, size, kPng, 8)) {
    file = image_detail::decode_png(data, size, subject, true);
  } else if (starts_with(data, size, "\xFF\xD8\xFF", 3)) {
    file = image_detail::decode_jpeg(data, size, subject);
  } else if (std::memcmp(data, kPng, std::min<std::size_t>(size, 8)) == 0) {
    fail(ErrorCode::InvalidFormat, subject, "truncated PNG file (" + std::to_string(size) + " bytes)");
  } else if (starts_with(data, size, "\x89PNG", 4)) {
    fail(ErrorCode::InvalidFormat, subject,
         "damaged PNG signature (was the file transferred in text mode?)");
  } else {
    const char* other = nullptr;
    if (starts_with(data, size, "GIF87a", 6) || starts_with(data, size, "GIF89a", 6)) other = "GIF";
    else if (size >= 12 && starts_with(data, size, "RIFF", 4) && std::memcmp(data + 8, "WEBP", 4) == 0)
      other = "WebP";
    else if (starts_with(data, size, "II*\0", 4) || starts_with(data, size, "MM\0*", 4)) other = "TIFF";
    else if (size >= 12 && std::memcmp(data + 4, "ftyp", 4) == 0) other = "HEIF/AVIF";
    else if (starts_with(data, size, "BM", 2) && size >= 26) other = "BMP";
    if (other)
      fail(ErrorCode::Unsupported, subject,
           std::string(other) + " images are not supported; convert the file to PNG or JPEG");
    fail(ErrorCode::InvalidFormat, subject, "not a PNG or JPEG image (unrecognised first bytes)");
  }
  if (options.apply_orientation && file.orientation != 1)
    file.image = apply_orientation(file.image, file.orientation);
  return file;
}

ImageFile read_image_file(const std::string& path, const ReadOptions& options) {
  const auto mapped = io::MappedFile::open(path);
  return decode_image(mapped->data(), mapped->size(), path, options);
}

Image read_image(const std::string& path, const ReadOptions& options) {
  return std::move(read_image_file(path, options).image);
}

std::map<std::string, std::string> read_png_text(const std::string& path) {
  const auto mapped = io::MappedFile::open(path);
  const std::uint8_t* p = mapped->data();
  const std::size_t n = mapped->size();
  if (n >= 8 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
    return image_detail::decode_png(p, n, path, false).text;
  if (n >= 3 && std::memcmp(p, "\xFF\xD8\xFF", 3) == 0) return {};
  decode_image(p, n, path);  // throws the right error for anything else
  return {};
}

// ---------------------------------------------------------------- writing

void write_png(const std::string& path, const Image& image, const std::map<std::string, std::string>& text,
               const PngWriteOptions& options) {
  image_detail::write_file_atomic(path, encode_png(image, text, options, path));
}

void write_jpeg(const std::string& path, const Image& image, int quality, Rgb8 background) {
  check_image(image, path);
  if (quality < 1 || quality > 100)
    fail(ErrorCode::InvalidArgument, path, "JPEG quality must be 1 to 100, not " + std::to_string(quality));
  std::vector<std::uint8_t> bytes;
  if (image.channels == 1) bytes = image_detail::encode_jpeg(to_8bit(image), quality, path);
  else bytes = image_detail::encode_jpeg(to_rgb8(image, background), quality, path);
  image_detail::write_file_atomic(path, bytes);
}

}  // namespace gen
