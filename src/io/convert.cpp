#include "io/convert.hpp"

#include <cstring>
#include <deque>
#include <filesystem>
#include <set>
#include <system_error>

#include "core/fail.hpp"
#include "io/torch_pickle_hooks.hpp"

namespace gen::io {

namespace {

std::uint32_t float_bits(float f) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_float(std::uint32_t u) noexcept {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_float(DType d) noexcept {
  return d == DType::F16 || d == DType::BF16 || d == DType::F32 || d == DType::F64;
}

float load_float(DType from, const std::uint8_t* p) noexcept {
  switch (from) {
    case DType::F16: {
      std::uint16_t h;
      std::memcpy(&h, p, 2);
      return f16_to_f32(h);
    }
    case DType::BF16: {
      std::uint16_t h;
      std::memcpy(&h, p, 2);
      return bf16_to_f32(h);
    }
    case DType::F64: {
      double d;
      std::memcpy(&d, p, 8);
      return static_cast<float>(d);  // as PyTorch does: through float
    }
    default: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
  }
}

// A tensor ready to be written.
struct Source {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const std::uint8_t* data;
  std::size_t nbytes;
};

}  // namespace

std::uint16_t f32_to_f16(float value) noexcept {
  const std::uint32_t x = float_bits(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000);
  const std::uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return sign | 0x7E00;   // NaN
  if (ax >= 0x477FF000u) return sign | 0x7C00;  // >= 65520 rounds to infinity (and inf)
  if (ax < 0x38800000u) {                       // below 2^-14: a subnormal half, or zero
    if (ax <= 0x33000000u) return sign;         // <= 2^-25: rounds to zero (2^-25 ties to even)
    const std::uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126 - (ax >> 23);  // 14 .. 24
    std::uint32_t r = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<std::uint16_t>(sign | r);
  }
  std::uint32_t h = (((ax >> 23) - 112) << 10) | ((ax & 0x7FFFFFu) >> 13);
  const std::uint32_t rem = ax & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry moves into the exponent
  return static_cast<std::uint16_t>(sign | h);
}

std::uint16_t f32_to_bf16(float value) noexcept {
  std::uint32_t x = float_bits(value);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>(((x >> 16) & 0x8000) | 0x7FC0);
  x += 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

float f16_to_f32(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1F;
  std::uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) return bits_float(sign | 0x7F800000u | (mant << 13));
  if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return bits_float(sign);
  std::uint32_t e = 113;  // normalise the subnormal
  while ((mant & 0x400) == 0) {
    mant <<= 1;
    --e;
  }
  return bits_float(sign | (e << 23) | ((mant & 0x3FF) << 13));
}

float bf16_to_f32(std::uint16_t bits) noexcept { return bits_float(static_cast<std::uint32_t>(bits) << 16); }

std::uint64_t cast_floats(DType from, const void* in, std::size_t count, DType to, void* out) noexcept {
  const auto* src = static_cast<const std::uint8_t*>(in);
  auto* dst = static_cast<std::uint8_t*>(out);
  const std::size_t es = torchpk::element_size(from);
  std::uint64_t overflowed = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const float f = load_float(from, src + k * es);
    const std::uint16_t h = to == DType::F16 ? f32_to_f16(f) : f32_to_bf16(f);
    if ((h & 0x7FFF) == (to == DType::F16 ? 0x7C00 : 0x7F80) && (float_bits(f) & 0x7FFFFFFFu) < 0x7F800000u)
      ++overflowed;
    std::memcpy(dst + 2 * k, &h, 2);
  }
  return overflowed;
}

ConvertSummary convert_checkpoint(const std::string& in_path, const std::string& out_path,
                                  const ConvertOptions& opt) {
  namespace fs = std::filesystem;
  const fs::path out_p(out_path);
  if (out_p.extension() != ".safetensors" || out_p.stem().empty())
    fail(ErrorCode::InvalidArgument, out_path, "the output must be a .safetensors file");
  {
    std::error_code ec1, ec2;
    const bool same = fs::exists(out_p, ec1) ? fs::equivalent(in_path, out_p, ec2)
                                             : fs::weakly_canonical(in_path, ec1) == fs::weakly_canonical(out_p, ec2);
    if (same && !ec1 && !ec2) fail(ErrorCode::InvalidArgument, out_path, "the output is the input file");
  }
  if (opt.strip_prefix && opt.prefix.empty())
    fail(ErrorCode::InvalidArgument, "--strip-prefix", "needs a --prefix");

  ConvertSummary sum;
  std::vector<Source> sources;
  std::deque<std::vector<std::uint8_t>> buffers;  // gathered or cast copies (stable addresses)
  std::map<std::string, std::string> metadata;
  std::set<std::string> first_parts;  // for a helpful message when the prefix matches nothing
  auto keep_name = [&](const std::string& name, std::string& out_name) {
    if (name.compare(0, opt.prefix.size(), opt.prefix) != 0) {
      const std::size_t dot = name.find('.');
      if (first_parts.size() < 12) first_parts.insert(dot == std::string::npos ? name : name.substr(0, dot + 1));
      ++sum.outside_prefix;
      return false;
    }
    out_name = opt.strip_prefix ? name.substr(opt.prefix.size()) : name;
    if (out_name.empty())
      fail(ErrorCode::InvalidArgument, "--strip-prefix",
           "stripping '" + opt.prefix + "' from tensor '" + name + "' leaves an empty name");
    return true;
  };

  std::unique_ptr<SafetensorsFile> st;
  TorchCheckpoint ckpt;
  if (ends_with(in_path, ".safetensors")) {
    sum.input_format = "safetensors";
    st = std::make_unique<SafetensorsFile>(SafetensorsFile::open(in_path));
    metadata = st->metadata();
    for (const TensorInfo& info : st->tensors()) {
      std::string name;
      if (!keep_name(info.name, name)) continue;
      sources.push_back({name, info.dtype, info.shape, static_cast<const std::uint8_t*>(st->data(info)),
                         static_cast<std::size_t>(info.nbytes())});
    }
  } else {
    sum.input_format = "torch zip";
    ckpt = read_torch_checkpoint(in_path);
    sum.root = ckpt.root;
    sum.dropped = ckpt.dropped;
    verify_torch_storages(ckpt);
    for (const TorchTensor& t : ckpt.tensors) {
      std::string name;
      if (!keep_name(t.name, name)) continue;
      std::vector<std::uint8_t> scratch;
      const std::uint8_t* data = torch_tensor_bytes(ckpt, t, scratch);
      if (!scratch.empty()) {
        buffers.push_back(std::move(scratch));
        data = buffers.back().data();
      }
      sources.push_back({name, t.dtype, t.shape, data, static_cast<std::size_t>(t.nbytes())});
    }
  }
  if (sources.empty()) {
    if (!opt.prefix.empty()) {
      std::string seen;
      for (const std::string& p : first_parts) seen += (seen.empty() ? "'" : ", '") + p + "'";
      fail(ErrorCode::InvalidArgument, "--prefix",
           "no tensor name starts with '" + opt.prefix + "'" + (seen.empty() ? "" : " (names start with " + seen + ")"));
    }
    fail(ErrorCode::NotFound, in_path, "the checkpoint holds no tensors");
  }

  const DType target = opt.dtype == TargetDType::F16 ? DType::F16 : DType::BF16;
  std::vector<TensorData> out;
  out.reserve(sources.size());
  for (Source& s : sources) {
    sum.bytes_in += s.nbytes;
    if (opt.dtype != TargetDType::Keep && is_float(s.dtype) && s.dtype != target) {
      const std::size_t count = s.nbytes / torchpk::element_size(s.dtype);
      std::vector<std::uint8_t> cast(count * 2);
      sum.overflowed += cast_floats(s.dtype, s.data, count, target, cast.data());
      buffers.push_back(std::move(cast));
      s.data = buffers.back().data();
      s.nbytes = count * 2;
      s.dtype = target;
      ++sum.cast;
    }
    sum.bytes_out += s.nbytes;
    ++sum.dtypes[s.dtype];
    TensorData d;
    d.name = s.name;
    d.dtype = s.dtype;
    d.shape = s.shape;
    d.data = s.data;
    d.nbytes = s.nbytes;
    out.push_back(std::move(d));
  }
  sum.tensors = out.size();
  if (metadata.find("format") == metadata.end()) metadata["format"] = "pt";
  write_safetensors(out_path, out, metadata);
  return sum;
}

}  // namespace gen::io
