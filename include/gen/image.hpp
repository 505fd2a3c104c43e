// gen — image files: a strict PNG/JPEG reader, an atomic PNG/JPEG writer with
// text chunks, and the pixel conversions the pipeline needs. No libtorch here.
//
// Reading is safe on hostile input: the format is found from the first bytes
// (never the file name), libpng/libjpeg errors become gen::Error (the libraries
// never print, abort or exit), the size is checked against kMaxImageSide /
// kMaxImagePixels before any pixel memory is allocated, and a truncated or
// corrupt file is refused with a message naming the file.
//
// Errors (gen::Error): NotFound (missing file), Io (permissions, I/O, disk full),
// InvalidArgument (a folder, not a regular file; a bad Image or text chunk given
// to a writer), InvalidFormat (not PNG/JPEG, corrupt, truncated, zero size),
// Unsupported (a valid image over the size caps; GIF, WebP, BMP, TIFF, HEIF/AVIF).
#pragma once

#include "gen/export.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gen {

// Size caps applied to every image read, made or written. 2^28 pixels is a
// 16384 x 16384 square (1 GiB as 8-bit RGBA); one side may be longer (up to
// 65535, the most a JPEG can hold) if the total stays within the pixel cap.
constexpr int kMaxImageSide = 65535;
constexpr std::uint64_t kMaxImagePixels = 1ull << 28;  // 268,435,456

// Pixels in memory: row-major, channels interleaved, no row padding.
// channels: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. bit_depth 8 stores samples in
// `data8`, bit_depth 16 in `data16` (native-endian values 0..65535); the other
// vector is empty. Alpha is straight (not premultiplied).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  int bit_depth = 8;
  std::vector<std::uint8_t> data8;
  std::vector<std::uint16_t> data16;

  // A zero-filled image. Throws InvalidArgument for a size of 0, over the caps,
  // channels outside 1..4 or bit_depth other than 8 and 16.
  GEN_API static Image make(int width, int height, int channels, int bit_depth = 8);

  bool empty() const noexcept { return width <= 0 || height <= 0; }
  bool has_alpha() const noexcept { return channels == 2 || channels == 4; }
  bool is_grey() const noexcept { return channels <= 2; }
  std::size_t sample_count() const noexcept {
    return static_cast<std::size_t>(width) * static_cast<std::size_t>(height) *
           static_cast<std::size_t>(channels);
  }
  // Sample `c` of pixel (x, y) as stored (0..255 or 0..65535). Unchecked.
  unsigned at(int x, int y, int c) const noexcept {
    const std::size_t i =
        (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) *
            static_cast<std::size_t>(channels) + static_cast<std::size_t>(c);
    return bit_depth == 16 ? data16[i] : data8[i];
  }
};

// Throws InvalidArgument ("<subject>: ...") unless `image` is consistent: size
// within the caps, channels 1..4, bit depth 8 or 16, the right vector holding
// exactly sample_count() samples.
GEN_API void check_image(const Image& image, const std::string& subject);

// ---------------------------------------------------------------- conversions

// A background colour for flattening alpha.
struct Rgb8 {
  std::uint8_t r = 255, g = 255, b = 255;
};
// Transparent pixels are composited over white by default, as A1111 does for
// img2img and inpainting inputs (its `img2img_background_color` option,
// default #ffffff). Pass {0, 0, 0} for black.
constexpr Rgb8 kWhite{255, 255, 255};
constexpr Rgb8 kBlack{0, 0, 0};

// 8-bit RGB (channels 3). Grey is replicated to R, G and B; 16-bit samples are
// rounded to the nearest 8-bit level (v * 255 / 65535); alpha is composited
// over `background` in full precision: out = c * a + bg * (1 - a), rounded.
GEN_API Image to_rgb8(const Image& image, Rgb8 background = kWhite);

// Any image to 8-bit, keeping its channels (16-bit samples rounded as above).
GEN_API Image to_8bit(const Image& image);

// Float RGB in [0, 1], height x width x 3 (HWC), from 8- or 16-bit samples with
// full precision (v / 255 or v / 65535), alpha composited as in to_rgb8.
GEN_API std::vector<float> to_float_rgb(const Image& image, Rgb8 background = kWhite);

// The reverse: 8-bit RGB from HWC float RGB, each value clamped to [0, 1] and
// then x * 255 (in float) rounded half to even, as diffusers' numpy_to_pil does
// with numpy's round().
// NaN becomes 0. Throws InvalidArgument for a size of 0 or over the caps.
GEN_API Image image_from_float_rgb(const float* hwc, int width, int height);

// EXIF orientation (1..8, 1 = as stored) applied: the image as it should be
// displayed. Orientations 5..8 swap width and height. Others return a copy.
GEN_API Image apply_orientation(const Image& image, int orientation);

// ---------------------------------------------------------------- reading

enum class ImageFormat { Png, Jpeg };

struct ImageFile {
  Image image;
  ImageFormat format = ImageFormat::Png;
  // PNG tEXt, zTXt and iTXt chunks (before and after the image data), keys and
  // values as UTF-8 (tEXt/zTXt are Latin-1 in the file and converted). A key
  // seen twice keeps its last value; an iTXt chunk that is not valid UTF-8 is
  // skipped (both as Pillow does). Empty for JPEG.
  std::map<std::string, std::string> text;
  // How the file stores its pixels, e.g. "PNG 4-bit palette, interlaced",
  // "JPEG YCbCr 4:2:0, progressive".
  std::string description;
  int source_bit_depth = 8;  // the file's own bits per sample (1, 2, 4, 8, 16)
  int orientation = 1;       // EXIF orientation found in the file (1 when none)
};

// What decoding produces. PNG: 1/2/4-bit grey scaled to 8-bit (x255/max),
// palette expanded to RGB (RGBA when it has transparency), grey/RGB with a tRNS
// colour key get an alpha channel; 16-bit stays 16-bit; gamma, sBIT and ICC
// profiles are ignored (samples are returned as stored). JPEG: grey stays grey,
// YCbCr becomes RGB, CMYK/YCCK is converted to RGB without colour management
// (R = (1 - C)(1 - K), Adobe's inverted storage recognised); always 8-bit.
struct ReadOptions {
  // Rotate/flip by the EXIF orientation (JPEG APP1 or PNG eXIf), as browsers
  // and A1111 (ImageOps.exif_transpose) do.
  bool apply_orientation = true;
};

// Reads a PNG or JPEG file, detected by its first bytes.
GEN_API ImageFile read_image_file(const std::string& path, const ReadOptions& options = {});
GEN_API Image read_image(const std::string& path, const ReadOptions& options = {});

// The same from bytes in memory; `subject` names the data in errors.
GEN_API ImageFile decode_image(const std::uint8_t* data, std::size_t size, const std::string& subject,
                       const ReadOptions& options = {});

// The text chunks of a PNG file (see ImageFile::text) without keeping its
// pixels: the image data is still decoded row by row (so a corrupt file is
// refused) but never held in memory. A JPEG gives an empty map.
GEN_API std::map<std::string, std::string> read_png_text(const std::string& path);

// ---------------------------------------------------------------- writing

struct PngWriteOptions {
  int compression_level = 6;  // zlib 0..9 (6 is Pillow's and zlib's default)
  // Text values of at least this many bytes are stored compressed (zTXt, or
  // iTXt with its compression flag); 0 never compresses, as A1111 writes.
  std::size_t compress_text_from = 0;
};

// Writes `image` as PNG (any channels, 8- or 16-bit), atomically: a temporary
// file in the same folder, fsync, rename; on any error no file is left, and an
// existing file of that name is untouched.
//
// Text chunks are written before the image data as A1111 does through Pillow's
// PngInfo.add_text: a value that Latin-1 can represent becomes a tEXt chunk
// (stored as Latin-1), any other an iTXt chunk (UTF-8, empty language and
// translated keyword). Keys and values are UTF-8 strings; a key must be 1..79
// Latin-1 printable characters without leading, trailing or double spaces, a
// value must be valid UTF-8 without NUL, else InvalidArgument. A1111 puts its
// infotext under "parameters"; gen also writes its request as JSON under "gen".
GEN_API void write_png(const std::string& path, const Image& image,
               const std::map<std::string, std::string>& text = {},
               const PngWriteOptions& options = {});

// The PNG file's bytes, as write_png would write them.
GEN_API std::vector<std::uint8_t> encode_png(const Image& image,
                                     const std::map<std::string, std::string>& text = {},
                                     const PngWriteOptions& options = {},
                                     const std::string& subject = "PNG image");

// Writes grey or RGB as baseline JPEG (chroma 4:2:0, as Pillow and libjpeg
// default to), atomically. Alpha is composited over `background`; 16-bit is rounded
// to 8-bit. quality 1..100 (InvalidArgument otherwise).
GEN_API void write_jpeg(const std::string& path, const Image& image, int quality = 95,
                Rgb8 background = kWhite);

}  // namespace gen
