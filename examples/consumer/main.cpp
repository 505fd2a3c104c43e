// Uses gen through its installed package: writes a small safetensors file with
// gen's writer, reads it back with gen's reader, and checks a refusal.
#include <gen/error.hpp>
#include <gen/safetensors.hpp>
#include <gen/version.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer OUT.safetensors\n");
    return 2;
  }
  const std::string path = argv[1];
  std::printf("gen %s\n", gen::version_string());
  try {
    const float w[6] = {1, 2, 3, 4, 5, 6};
    gen::write_safetensors(path, {{"layer.weight", gen::DType::F32, {2, 3}, w, sizeof w}},
                           {{"format", "pt"}});
    auto file = gen::SafetensorsFile::open(path);
    const auto& info = file.info("layer.weight");
    const float* back = static_cast<const float*>(file.data(info));
    if (info.shape.size() != 2 || info.shape[0] != 2 || info.shape[1] != 3 ||
        std::memcmp(back, w, sizeof w) != 0 || file.metadata().at("format") != "pt") {
      std::fprintf(stderr, "round trip mismatch\n");
      return 1;
    }
    std::printf("read back %s: %zu tensor(s), %s [2, 3]\n", path.c_str(), file.tensors().size(),
                gen::dtype_name(info.dtype));
  } catch (const gen::Error& e) {
    std::fprintf(stderr, "unexpected error: %s\n", e.what());
    return 1;
  }
  // A file that is not safetensors must be refused with a gen::Error, not a crash.
  const std::string bad = path + ".bad";
  std::ofstream(bad, std::ios::binary) << "definitely not a safetensors file";
  try {
    gen::SafetensorsFile::open(bad);
    std::fprintf(stderr, "corrupt file accepted\n");
    return 1;
  } catch (const gen::Error& e) {
    std::printf("refused as expected [%s]: %s\n", gen::code_name(e.code()), e.what());
  }
  return 0;
}
