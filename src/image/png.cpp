// PNG through libpng, made safe for hostile input and C++:
//   - libpng reports errors by calling our error function, which records the
//     message and longjmps back to the setjmp of the phase that called libpng.
//     Each phase is a small function holding no C++ object with a destructor,
//     and memory is allocated between phases, so a longjmp never skips a
//     destructor; the structs are freed by an RAII guard.
//   - warnings are dropped (libpng prints nothing);
//   - the size from IHDR is checked against gen's caps before any row memory.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/fail.hpp"
#include "gen/image.hpp"
#include "image/image_internal.hpp"

namespace gen::image_detail {
namespace {

// Error state shared with the callbacks (through png_get_error_ptr).
struct PngError {
  char message[512] = {0};
};

void on_error(png_structp png, png_const_charp msg) {
  auto* err = static_cast<PngError*>(png_get_error_ptr(png));
  if (err) std::snprintf(err->message, sizeof err->message, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char b;
  std::memcpy(&b, &probe, 1);
  return b == 1;
}

// ---------------------------------------------------------------- reading

struct PngSource {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t pos;
};

void on_read(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "unexpected end of file (the file is truncated)");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

struct ReadGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~ReadGuard() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

struct Header {
  png_uint_32 width = 0, height = 0;
  int depth = 0, color = 0, interlace = 0;
  int file_channels = 0;  // samples a pixel in the file (1 for palette)
  bool trns = false;
  int passes = 1;
  int out_channels = 0, out_depth = 0;
  std::size_t rowbytes = 0;
};

// Phase 1: signature and chunks up to the first IDAT.
bool read_header(png_structp png, png_infop info, Header* h) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);  // gen's caps are checked after
  png_read_info(png, info);
  png_get_IHDR(png, info, &h->width, &h->height, &h->depth, &h->color, &h->interlace, nullptr, nullptr);
  h->file_channels = png_get_channels(png, info);
  h->trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  return true;
}

// Phase 2: transformations to 8/16-bit grey, grey+alpha, RGB or RGBA.
bool set_transforms(png_structp png, png_infop info, Header* h) {
  if (setjmp(png_jmpbuf(png))) return false;
  if (h->color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (h->color == PNG_COLOR_TYPE_GRAY && h->depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (h->trns) png_set_tRNS_to_alpha(png);
  if (h->depth == 16 && host_is_little_endian()) png_set_swap(png);
  h->passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  h->out_channels = png_get_channels(png, info);
  h->out_depth = png_get_bit_depth(png, info);
  h->rowbytes = png_get_rowbytes(png, info);
  return true;
}

// Phase 3: the image data and the chunks after it. `rows` has one pointer per
// row, or is null to decode every row into `scratch` and drop it.
bool read_rows(png_structp png, png_infop info, png_bytepp rows, png_bytep scratch, const Header* h) {
  if (setjmp(png_jmpbuf(png))) return false;
  if (rows) {
    png_read_image(png, rows);
  } else {
    for (int pass = 0; pass < h->passes; ++pass)
      for (png_uint_32 y = 0; y < h->height; ++y) png_read_row(png, scratch, nullptr);
  }
  png_read_end(png, info);
  return true;
}

const char* color_name(int color) {
  switch (color) {
    case PNG_COLOR_TYPE_GRAY: return "grey";
    case PNG_COLOR_TYPE_GRAY_ALPHA: return "grey+alpha";
    case PNG_COLOR_TYPE_PALETTE: return "palette";
    case PNG_COLOR_TYPE_RGB: return "RGB";
    case PNG_COLOR_TYPE_RGB_ALPHA: return "RGBA";
  }
  return "unknown colour type";
}

// libpng allocates the length a chunk declares before reading its data (1 GB for a
// zTXt chunk of a 300-byte file): every chunk up to IEND must lie inside the file.
// A header cut short is left to libpng, which reports the file truncated.
void check_chunk_lengths(const std::uint8_t* data, std::size_t size, const std::string& subject) {
  for (std::size_t pos = 8; size - pos >= 8;) {
    const std::uint64_t length = (std::uint64_t{data[pos]} << 24) | (std::uint64_t{data[pos + 1]} << 16) |
                                 (std::uint64_t{data[pos + 2]} << 8) | data[pos + 3];
    if (length + 4 > size - pos - 8)  // the data and its CRC
      fail(ErrorCode::InvalidFormat, subject,
           "truncated or corrupt PNG: the chunk at offset " + std::to_string(pos) + " declares " +
               std::to_string(length) + " bytes, past the end of the file (" + std::to_string(size) + " bytes)");
    if (std::memcmp(data + pos + 4, "IEND", 4) == 0) return;
    pos += 12 + static_cast<std::size_t>(length);
  }
}

[[noreturn]] void fail_png(const std::string& subject, const PngError& err) {
  fail(ErrorCode::InvalidFormat, subject,
       std::string("not a valid PNG file: ") + (err.message[0] ? err.message : "libpng failed"));
}

// ---------------------------------------------------------------- writing

struct PngSink {
  std::vector<std::uint8_t>* out;
  bool out_of_memory;
};

void on_write(png_structp png, png_bytep data, png_size_t n) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  try {
    sink->out->insert(sink->out->end(), data, data + n);
  } catch (...) {
    sink->out_of_memory = true;
  }
  if (sink->out_of_memory) png_error(png, "out of memory while encoding");
}

void on_flush(png_structp) {}

struct WriteGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~WriteGuard() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
  }
};

struct WriteJob {
  const Image* image;
  png_bytepp rows;
  png_textp text;
  int num_text;
  int level;
};

bool write_all(png_structp png, png_infop info, const WriteJob* job) {
  if (setjmp(png_jmpbuf(png))) return false;
  static const int kColor[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                PNG_COLOR_TYPE_RGB_ALPHA};
  const Image& im = *job->image;
  png_set_IHDR(png, info, static_cast<png_uint_32>(im.width), static_cast<png_uint_32>(im.height),
               im.bit_depth, kColor[im.channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, job->level);
  if (job->num_text > 0) png_set_text(png, info, job->text, job->num_text);
  png_write_info(png, info);
  if (im.bit_depth == 16 && host_is_little_endian()) png_set_swap(png);
  png_write_image(png, job->rows);
  png_write_end(png, nullptr);
  return true;
}

// A PNG keyword: 1..79 printable Latin-1 characters, no leading, trailing or
// doubled spaces (PNG spec, 11.3.4.2).
void check_key(const std::string& key_utf8, std::string& latin1, const std::string& subject) {
  const std::string shown = "text chunk key \"" + key_utf8 + "\"";
  if (!utf8_to_latin1(key_utf8, latin1))
    fail(ErrorCode::InvalidArgument, subject, shown + " is not Latin-1 (PNG keys must be)");
  if (latin1.empty() || latin1.size() > 79)
    fail(ErrorCode::InvalidArgument, subject, shown + " must be 1 to 79 characters");
  for (std::size_t i = 0; i < latin1.size(); ++i) {
    const auto c = static_cast<unsigned char>(latin1[i]);
    if (!((c >= 32 && c <= 126) || c >= 161))
      fail(ErrorCode::InvalidArgument, subject, shown + " holds a control or non-printable character");
    if (c == ' ' && (i == 0 || i + 1 == latin1.size() || latin1[i - 1] == ' '))
      fail(ErrorCode::InvalidArgument, subject, shown + " has a leading, trailing or double space");
  }
}

}  // namespace

ImageFile decode_png(const std::uint8_t* data, std::size_t size, const std::string& subject, bool keep_pixels) {
  check_chunk_lengths(data, size, subject);
  PngError err;
  PngSource src{data, size, 0};
  ReadGuard g;
  g.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, on_error, on_warning);
  if (!g.png) fail(ErrorCode::OutOfMemory, subject, "cannot create a PNG reader");
  g.info = png_create_info_struct(g.png);
  if (!g.info) fail(ErrorCode::OutOfMemory, subject, "cannot create a PNG reader");
  png_set_read_fn(g.png, &src, on_read);

  Header h;
  if (!read_header(g.png, g.info, &h)) fail_png(subject, err);
  check_size(h.width, h.height, subject, ErrorCode::InvalidFormat, ErrorCode::Unsupported);
  // Deflate compresses at most 1032:1 (zlib's technical notes): a file too small to
  // hold the pixels its header announces is refused before their memory is allocated.
  const std::uint64_t pixel_bytes = static_cast<std::uint64_t>(h.width) * h.height *
                                    static_cast<std::uint64_t>(h.file_channels * h.depth) / 8;
  if (pixel_bytes / 1032 > size)
    fail(ErrorCode::InvalidFormat, subject,
         "truncated or corrupt PNG: a " + std::to_string(h.width) + "x" + std::to_string(h.height) +
             " image needs at least " + std::to_string(pixel_bytes / 1032) +
             " bytes of compressed data (deflate compresses at most 1032:1), the file has " +
             std::to_string(size));
  if (!set_transforms(g.png, g.info, &h)) fail_png(subject, err);

  const int want_depth = h.depth == 16 ? 16 : 8;
  const std::size_t want_rowbytes = static_cast<std::size_t>(h.width) *
                                    static_cast<std::size_t>(h.out_channels) * (want_depth / 8);
  if (h.out_channels < 1 || h.out_channels > 4 || h.out_depth != want_depth || h.rowbytes != want_rowbytes)
    fail(ErrorCode::Internal, subject,
         "unexpected libpng output layout (" + std::to_string(h.out_channels) + " channels, " +
             std::to_string(h.out_depth) + " bits, " + std::to_string(h.rowbytes) + " bytes a row)");

  ImageFile file;
  file.format = ImageFormat::Png;
  file.source_bit_depth = h.depth;
  file.description = "PNG " + std::to_string(h.depth) + "-bit " + color_name(h.color) +
                     (h.trns ? " with transparency" : "") +
                     (h.interlace != PNG_INTERLACE_NONE ? ", interlaced" : "");

  bool ok;
  if (keep_pixels) {
    file.image = Image::make(static_cast<int>(h.width), static_cast<int>(h.height), h.out_channels, want_depth);
    auto* base = want_depth == 16 ? reinterpret_cast<png_bytep>(file.image.data16.data())
                                  : static_cast<png_bytep>(file.image.data8.data());
    std::vector<png_bytep> rows(h.height);
    for (png_uint_32 y = 0; y < h.height; ++y) rows[y] = base + static_cast<std::size_t>(y) * h.rowbytes;
    ok = read_rows(g.png, g.info, rows.data(), nullptr, &h);
  } else {
    std::vector<png_byte> scratch(h.rowbytes);
    ok = read_rows(g.png, g.info, nullptr, scratch.data(), &h);
  }
  if (!ok) fail_png(subject, err);

  png_textp text = nullptr;
  int num_text = 0;
  png_get_text(g.png, g.info, &text, &num_text);
  for (int i = 0; i < num_text; ++i) {
    const png_text& t = text[i];
    if (!t.key) continue;
    const std::string key = latin1_to_utf8(t.key, std::strlen(t.key));
    const char* body = t.text ? t.text : "";
    if (t.compression == PNG_ITXT_COMPRESSION_NONE || t.compression == PNG_ITXT_COMPRESSION_zTXt) {
      std::string value(body, t.text ? t.itxt_length : 0);
      if (!valid_utf8(value)) continue;
      file.text[key] = std::move(value);
    } else {
      file.text[key] = latin1_to_utf8(body, t.text ? t.text_length : 0);
    }
  }
#ifdef PNG_eXIf_SUPPORTED
  png_bytep exif = nullptr;
  png_uint_32 exif_size = 0;
  if (png_get_eXIf_1(g.png, g.info, &exif_size, &exif) != 0 && exif)
    file.orientation = exif_orientation(exif, exif_size);
#endif
  return file;
}

}  // namespace gen::image_detail

namespace gen {

std::vector<std::uint8_t> encode_png(const Image& image, const std::map<std::string, std::string>& text,
                                     const PngWriteOptions& options, const std::string& subject) {
  using namespace image_detail;
  check_image(image, subject);
  if (options.compression_level < 0 || options.compression_level > 9)
    fail(ErrorCode::InvalidArgument, subject,
         "PNG compression level must be 0 to 9, not " + std::to_string(options.compression_level));

  // Text chunks: the strings must outlive png_set_text's copy, made in write_all.
  std::vector<std::string> keys, values;
  std::vector<png_text> chunks;
  keys.reserve(text.size());
  values.reserve(text.size());
  for (const auto& kv : text) {
    std::string key;
    check_key(kv.first, key, subject);
    if (!valid_utf8(kv.second))
      fail(ErrorCode::InvalidArgument, subject, "text chunk \"" + kv.first + "\": value is not valid UTF-8");
    if (kv.second.find('\0') != std::string::npos)
      fail(ErrorCode::InvalidArgument, subject, "text chunk \"" + kv.first + "\": value holds a NUL character");
    std::string latin1;
    const bool is_latin1 = utf8_to_latin1(kv.second, latin1);
    const bool compress = options.compress_text_from > 0 && kv.second.size() >= options.compress_text_from;
    keys.push_back(std::move(key));
    values.push_back(is_latin1 ? std::move(latin1) : kv.second);
    png_text t;
    std::memset(&t, 0, sizeof t);
    t.compression = is_latin1 ? (compress ? PNG_TEXT_COMPRESSION_zTXt : PNG_TEXT_COMPRESSION_NONE)
                              : (compress ? PNG_ITXT_COMPRESSION_zTXt : PNG_ITXT_COMPRESSION_NONE);
    t.key = const_cast<png_charp>(keys.back().c_str());
    t.text = const_cast<png_charp>(values.back().c_str());
    t.text_length = is_latin1 ? values.back().size() : 0;
    t.itxt_length = is_latin1 ? 0 : values.back().size();
    t.lang = const_cast<png_charp>("");
    t.lang_key = const_cast<png_charp>("");
    chunks.push_back(t);
  }

  const std::size_t rowbytes = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.channels) *
                               (image.bit_depth == 16 ? 2 : 1);
  auto* base = image.bit_depth == 16 ? reinterpret_cast<const png_byte*>(image.data16.data())
                                     : static_cast<const png_byte*>(image.data8.data());
  std::vector<png_bytep> rows(static_cast<std::size_t>(image.height));
  for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = const_cast<png_bytep>(base + y * rowbytes);

  std::vector<std::uint8_t> out;
  out.reserve(image.sample_count() / 2 + 4096);
  PngError err;
  PngSink sink{&out, false};
  WriteGuard g;
  g.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_error, on_warning);
  if (!g.png) fail(ErrorCode::OutOfMemory, subject, "cannot create a PNG writer");
  g.info = png_create_info_struct(g.png);
  if (!g.info) fail(ErrorCode::OutOfMemory, subject, "cannot create a PNG writer");
  png_set_write_fn(g.png, &sink, on_write, on_flush);
  const WriteJob job{&image, rows.data(), chunks.data(), static_cast<int>(chunks.size()),
                     options.compression_level};
  if (!write_all(g.png, g.info, &job)) {
    if (sink.out_of_memory) fail(ErrorCode::OutOfMemory, subject, "out of memory while encoding PNG");
    fail(ErrorCode::Internal, subject, std::string("libpng could not encode the image: ") + err.message);
  }
  return out;
}

}  // namespace gen
