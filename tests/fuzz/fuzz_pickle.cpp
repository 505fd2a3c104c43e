// libFuzzer target: the torch.save read path (src/io/torch_checkpoint.cpp) on
// arbitrary bytes, without libtorch. Any gen::Error is a correct rejection;
// anything else (crash, sanitizer report, another exception, a hang or runaway
// memory) is a finding.
//
// An input that starts with a ZIP signature is a whole checkpoint: the archive is
// read from memory, every tensor's bytes are gathered as `gen convert` does, and
// the storages' CRCs are checked. Any other input is a pickle stream, read twice:
//   - as a file (through a memfd), as `gen convert` would meet a bare or legacy
//     pickle: scanned (never run) for disallowed globals, then refused;
//   - as the data.pkl of a torch.save archive made around it, whose storages
//     'archive/data/0' ... '/15' hold 1 KiB ('0', '1') or 256 bytes each, so that
//     mutations reach the VM, the allow-list hooks and the tensor checks without
//     breaking a CRC.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gen/error.hpp"
#include "io/torch_checkpoint.hpp"
#include "io/zip_reader.hpp"
#include "zip_test_util.hpp"

namespace {

void read_all(const std::shared_ptr<const gen::io::ZipReader>& zip) {
  const gen::io::TorchCheckpoint ckpt = gen::io::read_torch_checkpoint(zip);
  gen::io::verify_torch_storages(ckpt);
  std::uint64_t sum = 0;
  for (const gen::io::TorchTensor& t : ckpt.tensors) {
    std::vector<std::uint8_t> scratch;
    const std::uint8_t* p = gen::io::torch_tensor_bytes(ckpt, t, scratch);
    const std::uint64_t n = t.nbytes();
    if (n > 0) sum += p[0] + p[n - 1];  // ASan checks both ends are inside the archive or scratch
  }
  volatile std::uint64_t sink = sum;
  (void)sink;
}

const std::vector<std::pair<std::string, std::string>>& storages() {
  static const std::vector<std::pair<std::string, std::string>> files = [] {
    std::vector<std::pair<std::string, std::string>> f;
    for (int k = 0; k < 16; ++k) {
      std::string data(k < 2 ? 1024 : 256, '\0');
      for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + k);
      f.emplace_back("archive/data/" + std::to_string(k), std::move(data));
    }
    f.emplace_back("archive/byteorder", "little");
    return f;
  }();
  return files;
}

int memfd() {
  static const int fd = ::memfd_create("fuzz_pickle", MFD_CLOEXEC);
  if (fd < 0) __builtin_trap();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (gen::io::ZipReader::has_signature(data, size)) {
    try {
      read_all(std::make_shared<gen::io::ZipReader>(gen::io::ZipReader::from_memory(data, size, "fuzz.pt")));
    } catch (const gen::Error&) {
    }
    return 0;
  }
  // As a file: a bare pickle or the legacy format, scanned then refused.
  const int fd = memfd();
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) __builtin_trap();
  try {
    gen::io::read_torch_checkpoint("/proc/self/fd/" + std::to_string(fd));
  } catch (const gen::Error&) {
  }
  // As the data.pkl of an archive.
  auto files = storages();
  files.emplace_back("archive/data.pkl", std::string(reinterpret_cast<const char*>(data), size));
  const std::vector<std::uint8_t> archive = gen::testing::make_zip(files);
  try {
    read_all(std::make_shared<gen::io::ZipReader>(gen::io::ZipReader::from_memory(archive.data(), archive.size(), "fuzz.pt")));
  } catch (const gen::Error&) {
  }
  return 0;
}
