// JPEG through libjpeg(-turbo), made safe for hostile input and C++ the same
// way as png.cpp: errors longjmp back to the phase that called the library
// (phases hold no C++ objects; memory is allocated between phases), messages
// are never printed, and the size is checked before decompression starts.
//
// Strictness: libjpeg turns many kinds of damage into warnings and keeps going
// (a truncated file decodes with its missing rows grey). Here every warning is
// an error except the harmless ones real files carry (stray bytes between
// segments, unknown JFIF/Adobe versions, a bad ICC marker, which is ignored
// anyway). A progressive file may have at most kMaxScans scans (libjpeg-turbo's
// advice against decompression bombs made of thousands of tiny scans).
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "core/fail.hpp"
#include "gen/image.hpp"
#include "image/image_internal.hpp"

namespace gen::image_detail {
namespace {

constexpr int kMaxScans = 500;

struct JpegError {
  jpeg_error_mgr mgr;  // first: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
};

void on_error_exit(j_common_ptr c) {
  auto* err = reinterpret_cast<JpegError*>(c->err);
  (*c->err->format_message)(c, err->message);
  std::longjmp(err->jump, 1);
}

bool harmless_warning(int code) {
  return code == JWRN_EXTRANEOUS_DATA || code == JWRN_ADOBE_XFORM || code == JWRN_JFIF_MAJOR ||
         code == JWRN_BOGUS_ICC;
}

void on_emit_message(j_common_ptr c, int level) {
  if (level >= 0) return;  // trace messages
  if (harmless_warning(c->err->msg_code)) {
    c->err->num_warnings++;
    return;
  }
  on_error_exit(c);
}

void on_output_message(j_common_ptr) {}

void on_progress(j_common_ptr c) {
  if (!c->is_decompressor) return;
  auto* d = reinterpret_cast<j_decompress_ptr>(c);
  if (d->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<JpegError*>(c->err);
    std::snprintf(err->message, sizeof err->message, "more than %d scans (a decompression bomb?)", kMaxScans);
    std::longjmp(err->jump, 1);
  }
}

struct Decoder {
  jpeg_decompress_struct cinfo;
  JpegError err;
  jpeg_progress_mgr progress;
  bool created = false;
  ~Decoder() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

bool read_header(Decoder* d, const std::uint8_t* data, std::size_t size, int* result) {
  if (setjmp(d->err.jump)) return false;
  jpeg_create_decompress(&d->cinfo);
  d->created = true;
  d->cinfo.progress = &d->progress;
  jpeg_mem_src(&d->cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&d->cinfo, JPEG_APP0 + 1, 0xFFFF);
  *result = jpeg_read_header(&d->cinfo, TRUE);
  return true;
}

bool start(Decoder* d) {
  if (setjmp(d->err.jump)) return false;
  jpeg_start_decompress(&d->cinfo);
  return true;
}

bool read_rows(Decoder* d, std::uint8_t* base, std::size_t stride) {
  if (setjmp(d->err.jump)) return false;
  while (d->cinfo.output_scanline < d->cinfo.output_height) {
    JSAMPROW row = base + static_cast<std::size_t>(d->cinfo.output_scanline) * stride;
    if (jpeg_read_scanlines(&d->cinfo, &row, 1) != 1) {
      std::snprintf(d->err.message, sizeof d->err.message, "decoder stopped before the last row");
      return false;
    }
  }
  jpeg_finish_decompress(&d->cinfo);
  return true;
}

[[noreturn]] void fail_jpeg(const std::string& subject, const JpegError& err) {
  fail(ErrorCode::InvalidFormat, subject,
       std::string("not a valid JPEG file: ") + (err.message[0] ? err.message : "libjpeg failed"));
}

std::string sampling(const jpeg_decompress_struct& c) {
  if (c.num_components < 3) return "";
  const int h = c.comp_info[0].h_samp_factor, v = c.comp_info[0].v_samp_factor;
  for (int i = 1; i < c.num_components; ++i)
    if (c.comp_info[i].h_samp_factor != 1 || c.comp_info[i].v_samp_factor != 1)
      return " (unusual sampling)";
  if (h == 1 && v == 1) return " 4:4:4";
  if (h == 2 && v == 1) return " 4:2:2";
  if (h == 2 && v == 2) return " 4:2:0";
  if (h == 1 && v == 2) return " 4:4:0";
  return " " + std::to_string(h) + "x" + std::to_string(v);
}

// ---------------------------------------------------------------- writing

// A destination growing a std::vector (libjpeg's own mem destination would
// leak its buffer on an error path).
struct VectorDest {
  jpeg_destination_mgr mgr;  // first
  std::vector<std::uint8_t>* out;
  bool out_of_memory;
};

bool grow(VectorDest* d, std::size_t size) {
  try {
    d->out->resize(size);
  } catch (...) {
    d->out_of_memory = true;
  }
  return !d->out_of_memory;
}

void dest_init(j_compress_ptr c) {
  auto* d = reinterpret_cast<VectorDest*>(c->dest);
  if (!grow(d, 65536)) ERREXIT(c, JERR_OUT_OF_MEMORY);
  d->mgr.next_output_byte = d->out->data();
  d->mgr.free_in_buffer = d->out->size();
}

boolean dest_empty(j_compress_ptr c) {
  auto* d = reinterpret_cast<VectorDest*>(c->dest);
  const std::size_t used = d->out->size();  // libjpeg wants the whole buffer emptied
  if (!grow(d, used * 2)) ERREXIT(c, JERR_OUT_OF_MEMORY);
  d->mgr.next_output_byte = d->out->data() + used;
  d->mgr.free_in_buffer = d->out->size() - used;
  return TRUE;
}

void dest_term(j_compress_ptr c) {
  auto* d = reinterpret_cast<VectorDest*>(c->dest);
  d->out->resize(d->out->size() - d->mgr.free_in_buffer);
}

struct Encoder {
  jpeg_compress_struct cinfo;
  JpegError err;
  VectorDest dest;
  bool created = false;
  ~Encoder() {
    if (created) jpeg_destroy_compress(&cinfo);
  }
};

bool encode(Encoder* e, const Image* im, int quality) {
  if (setjmp(e->err.jump)) return false;
  jpeg_create_compress(&e->cinfo);
  e->created = true;
  e->cinfo.dest = &e->dest.mgr;
  e->cinfo.image_width = static_cast<JDIMENSION>(im->width);
  e->cinfo.image_height = static_cast<JDIMENSION>(im->height);
  e->cinfo.input_components = im->channels;
  e->cinfo.in_color_space = im->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&e->cinfo);
  jpeg_set_quality(&e->cinfo, quality, TRUE);
  jpeg_start_compress(&e->cinfo, TRUE);
  const std::size_t stride = static_cast<std::size_t>(im->width) * static_cast<std::size_t>(im->channels);
  while (e->cinfo.next_scanline < e->cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(im->data8.data() + e->cinfo.next_scanline * stride);
    jpeg_write_scanlines(&e->cinfo, &row, 1);
  }
  jpeg_finish_compress(&e->cinfo);
  return true;
}

}  // namespace

ImageFile decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& subject) {
  auto d = std::make_unique<Decoder>();
  std::memset(&d->cinfo, 0, sizeof d->cinfo);
  std::memset(&d->err, 0, sizeof d->err);
  std::memset(&d->progress, 0, sizeof d->progress);
  d->cinfo.err = jpeg_std_error(&d->err.mgr);
  d->err.mgr.error_exit = on_error_exit;
  d->err.mgr.emit_message = on_emit_message;
  d->err.mgr.output_message = on_output_message;
  d->progress.progress_monitor = on_progress;

  int result = 0;
  if (!read_header(d.get(), data, size, &result)) fail_jpeg(subject, d->err);
  jpeg_decompress_struct& c = d->cinfo;
  if (result != JPEG_HEADER_OK)
    fail(ErrorCode::InvalidFormat, subject, "not a valid JPEG file: it holds tables but no image");
  check_size(c.image_width, c.image_height, subject, ErrorCode::InvalidFormat, ErrorCode::Unsupported);

  ImageFile file;
  file.format = ImageFormat::Jpeg;
  file.source_bit_depth = 8;
  std::string color;
  bool cmyk = false;
  switch (c.jpeg_color_space) {
    case JCS_GRAYSCALE: c.out_color_space = JCS_GRAYSCALE; color = "grey"; break;
    case JCS_YCbCr: c.out_color_space = JCS_RGB; color = "YCbCr"; break;
    case JCS_RGB: c.out_color_space = JCS_RGB; color = "RGB"; break;
    case JCS_CMYK: c.out_color_space = JCS_CMYK; color = "CMYK"; cmyk = true; break;
    case JCS_YCCK: c.out_color_space = JCS_CMYK; color = "YCCK"; cmyk = true; break;
    default:
      fail(ErrorCode::Unsupported, subject,
           "JPEG colour space " + std::to_string(static_cast<int>(c.jpeg_color_space)) +
               " with " + std::to_string(c.num_components) + " components is not supported");
  }
  const bool ycc = c.jpeg_color_space == JCS_YCbCr || c.jpeg_color_space == JCS_YCCK;
  file.description = "JPEG " + color + (ycc ? sampling(c) : std::string()) + (jpeg_has_multiple_scans(&c) ? ", progressive" : "");
  for (jpeg_saved_marker_ptr m = c.marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      file.orientation = exif_orientation(m->data, m->data_length);
      break;
    }

  if (!start(d.get())) fail_jpeg(subject, d->err);
  // A single Huffman-coded scan spends at least 2 bits a block (a DC and an end-of-block
  // code): a file too small for the blocks its header announces is refused before the
  // pixel memory is allocated. (Files of several scans were read whole by start().)
  if (!jpeg_has_multiple_scans(&c) && !c.arith_code) {
    const std::uint64_t blocks = static_cast<std::uint64_t>(c.MCUs_per_row) * c.MCU_rows_in_scan * c.blocks_in_MCU;
    if (blocks / 4 > size)
      fail(ErrorCode::InvalidFormat, subject,
           "truncated or corrupt JPEG: a " + std::to_string(c.image_width) + "x" + std::to_string(c.image_height) +
               " image needs at least " + std::to_string(blocks / 4) + " bytes of coded data (2 bits a block), the file has " +
               std::to_string(size));
  }
  const int comps = c.output_components;
  if (c.output_width != c.image_width || c.output_height != c.image_height ||
      comps != (cmyk ? 4 : c.out_color_space == JCS_GRAYSCALE ? 1 : 3))
    fail(ErrorCode::Internal, subject, "unexpected libjpeg output layout");
  const int w = static_cast<int>(c.output_width), h = static_cast<int>(c.output_height);
  Image raw = Image::make(w, h, comps, 8);
  if (!read_rows(d.get(), raw.data8.data(), static_cast<std::size_t>(w) * comps)) fail_jpeg(subject, d->err);

  if (!cmyk) {
    file.image = std::move(raw);
    return file;
  }
  // CMYK to RGB without colour management. Adobe files store inverted inks
  // (s = 1 - ink), so R = (1 - C)(1 - K) = sC * sK; others store inks directly.
  const bool inverted = c.saw_Adobe_marker != 0;
  file.image = Image::make(w, h, 3, 8);
  const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* s = &raw.data8[4 * i];
    const unsigned k = inverted ? s[3] : 255u - s[3];
    for (int j = 0; j < 3; ++j) {
      const unsigned v = inverted ? s[j] : 255u - s[j];
      file.image.data8[3 * i + j] = static_cast<std::uint8_t>((v * k + 127) / 255);
    }
  }
  return file;
}

std::vector<std::uint8_t> encode_jpeg(const Image& im, int quality, const std::string& subject) {
  check_image(im, subject);
  if (im.bit_depth != 8 || (im.channels != 1 && im.channels != 3))
    fail(ErrorCode::Internal, subject, "encode_jpeg needs 8-bit grey or RGB");
  std::vector<std::uint8_t> out;
  auto e = std::make_unique<Encoder>();
  std::memset(&e->cinfo, 0, sizeof e->cinfo);
  std::memset(&e->err, 0, sizeof e->err);
  e->cinfo.err = jpeg_std_error(&e->err.mgr);
  e->err.mgr.error_exit = on_error_exit;
  e->err.mgr.emit_message = on_emit_message;
  e->err.mgr.output_message = on_output_message;
  e->dest.mgr.init_destination = dest_init;
  e->dest.mgr.empty_output_buffer = dest_empty;
  e->dest.mgr.term_destination = dest_term;
  e->dest.out = &out;
  e->dest.out_of_memory = false;
  if (!encode(e.get(), &im, quality)) {
    if (e->dest.out_of_memory) fail(ErrorCode::OutOfMemory, subject, "out of memory while encoding JPEG");
    fail(ErrorCode::Internal, subject, std::string("libjpeg could not encode the image: ") + e->err.message);
  }
  return out;
}

}  // namespace gen::image_detail
