// Regression test: libtorch.so exports its own copies of std::filesystem functions, and
// when it comes before libstdc++ in the dynamic lookup order, remove_all on a non-empty
// folder crashes. tests/CMakeLists.txt (and tools/) link libstdc++ first.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

TEST(StdFilesystem, RemoveAllWorksBesideLibtorch) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("gen_fs_probe_" + std::to_string(::getpid()));
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "sub" / "file") << "x";
  EXPECT_EQ(fs::remove_all(dir), 3u);
  EXPECT_FALSE(fs::exists(dir));
}
