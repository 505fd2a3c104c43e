// core/files, core/json, core/atomic_file: the one way gen opens inputs and writes outputs
// (issue 15): nothing blocks, nothing is read past its cap, JSON nesting is bounded before a
// document is built, and no write follows a link or leaves its folder.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/files.hpp"
#include "core/json.hpp"
#include "gen/error.hpp"
#include "unit/safetensors_test_util.hpp"

using gen::ErrorCode;
using gen_test::test_dir;
using gen_test::throws_error;
using gen_test::write_file;

TEST(Files, OpenInputRefusesWhatIsNotARegularFile) {
  const std::string dir = test_dir();
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // A FIFO nobody writes to: refused at once (a blocking open would wait forever).
  EXPECT_TRUE(throws_error([&] { gen::core::open_input(fifo); }, ErrorCode::InvalidArgument, "not a regular file"));
  EXPECT_TRUE(throws_error([&] { gen::core::read_input(fifo, 100, "config"); }, ErrorCode::InvalidArgument,
                           "not a regular file"));
  EXPECT_TRUE(throws_error([&] { gen::core::open_input("/dev/zero"); }, ErrorCode::InvalidArgument,
                           "not a regular file"));
  EXPECT_TRUE(throws_error([&] { gen::core::open_input(dir); }, ErrorCode::InvalidArgument, "is a folder"));
  EXPECT_TRUE(throws_error([&] { gen::core::open_input(dir + "/none", nullptr, "job file"); }, ErrorCode::NotFound,
                           "no such job file"));
  EXPECT_TRUE(throws_error([&] { gen::core::open_input(dir + "/" + std::string(300, 'n')); },
                           ErrorCode::InvalidArgument, "name too long"));
  write_file(dir + "/f", "abc");
  std::size_t size = 0;
  EXPECT_GE(gen::core::open_input(dir + "/f", &size).get(), 0);
  EXPECT_EQ(size, 3u);
}

TEST(Files, ReadInputCapsWhatItReads) {
  const std::string dir = test_dir();
  write_file(dir + "/ten", std::string(10, 'x'));
  EXPECT_EQ(gen::core::read_input(dir + "/ten", 10, "config"), std::string(10, 'x'));
  EXPECT_TRUE(throws_error([&] { gen::core::read_input(dir + "/ten", 9, "model config"); },
                           ErrorCode::InvalidArgument, "is larger than 9 bytes, the most a model config may be"));
  // A sparse file claiming 1 GiB is refused from its size, before any byte is read.
  const std::string big = dir + "/big";
  write_file(big, "");
  ASSERT_EQ(::truncate(big.c_str(), 1 << 30), 0);
  EXPECT_TRUE(throws_error([&] { gen::core::read_input(big, 1 << 20, "request file"); }, ErrorCode::InvalidArgument,
                           "larger than 1 MiB"));
  EXPECT_EQ(gen::core::read_head(dir + "/ten", 4), "xxxx");
  EXPECT_EQ(gen::core::read_head(dir + "/ten", 100).size(), 10u);
}

TEST(Files, LineReaderSplitsAndBoundsLines) {
  const std::string path = test_dir() + "/jobs.jsonl";
  write_file(path, "one\r\ntwo\n\n" + std::string(50, 'L') + "\nlast");
  gen::core::LineReader r(path, 20, "job file");
  std::string line;
  bool too_long = false;
  std::vector<std::string> lines;
  std::vector<int> long_ones;
  while (r.next(line, &too_long)) {
    if (too_long) long_ones.push_back(r.number());
    lines.push_back(line);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "", "", "last"}));
  EXPECT_EQ(long_ones, std::vector<int>{4});
  // Without the flag a long line is an error naming the file and the line.
  gen::core::LineReader strict(path, 20, "job file");
  EXPECT_TRUE(throws_error(
      [&] {
        while (strict.next(line)) {
        }
      },
      ErrorCode::InvalidFormat, "4"));
}

TEST(Json, NestingIsBoundedBeforeParsing) {
  const auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_NO_THROW(gen::core::parse_json(nested(gen::core::kMaxJsonDepth), "x"));
  EXPECT_TRUE(throws_error([&] { gen::core::parse_json(nested(gen::core::kMaxJsonDepth + 1), "job.jsonl:3"); },
                           ErrorCode::InvalidFormat, "job.jsonl:3: not valid JSON for gen: nested deeper than 64"));
  EXPECT_TRUE(throws_error([&] { gen::core::parse_json(nested(1000000), "x", ErrorCode::InvalidArgument); },
                           ErrorCode::InvalidArgument, "nested deeper"));
  // Brackets inside strings (escaped quotes too) are text, not nesting.
  const std::string text = "{\"a\": \"" + std::string(200, '[') + "\\\"" + std::string(200, '{') + "\"}";
  EXPECT_EQ(gen::core::parse_json(text, "x")["a"].get<std::string>().size(), 401u);
  // A syntax error: short, without nlohmann's prefix.
  try {
    gen::core::parse_json("{\"a\": " + std::string(5000, 'x') + "}", "cfg.json");
    ADD_FAILURE() << "accepted";
  } catch (const gen::Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("cfg.json: not valid JSON: ", 0), 0u) << what;
    EXPECT_EQ(what.find("[json.exception"), std::string::npos) << what;
    EXPECT_LT(what.size(), 300u);
  }
}

TEST(Json, ExcerptsAreShortAndNeverDumpStructures) {
  EXPECT_EQ(gen::core::json_excerpt(nlohmann::json("abc")), "\"abc\"");
  EXPECT_EQ(gen::core::json_excerpt(nlohmann::json::array({1, 2})), "[…]");
  EXPECT_EQ(gen::core::json_excerpt(nlohmann::json::object({{"a", 1}})), "{…}");
  const std::string cut = gen::core::json_excerpt(nlohmann::json(std::string(1000, 'z')), 10);
  EXPECT_EQ(cut, "\"zzzzzzzzz…");
  // Cut between UTF-8 characters, and invalid UTF-8 replaced rather than thrown.
  EXPECT_EQ(gen::core::json_excerpt(nlohmann::json("\"éééééé"), 4), "\"\\\"…");
  EXPECT_NO_THROW(gen::core::json_excerpt(nlohmann::json(std::string("\xff\xfe"))));
}

TEST(AtomicFile, OnlyRegularFilesAreReplaced) {
  const std::string dir = test_dir();
  write_file(dir + "/victim", "keep");
  ASSERT_EQ(::symlink((dir + "/victim").c_str(), (dir + "/link.png").c_str()), 0);
  ASSERT_EQ(::symlink((dir + "/nowhere").c_str(), (dir + "/dangling.png").c_str()), 0);
  ASSERT_EQ(::mkfifo((dir + "/fifo.png").c_str(), 0600), 0);
  const char data[] = "new";
  for (const char* name : {"/link.png", "/dangling.png"})
    EXPECT_TRUE(throws_error([&] { gen::write_file_atomic(dir + name, data, 3); }, ErrorCode::InvalidArgument,
                             "is a symbolic link"));
  EXPECT_TRUE(throws_error([&] { gen::write_file_atomic(dir + "/fifo.png", data, 3); }, ErrorCode::InvalidArgument,
                           "not a regular file"));
  EXPECT_TRUE(throws_error([&] { gen::check_output_path("/dev/null"); }, ErrorCode::InvalidArgument,
                           "not a regular file"));
  EXPECT_EQ(gen_test::read_file(dir + "/victim"), "keep");
  EXPECT_FALSE(gen_test::path_exists(dir + "/nowhere"));
  // A name of 255 bytes (NAME_MAX) works: the temporary beside it has a short name.
  const std::string longest = dir + "/" + std::string(251, 'n') + ".png";
  gen::write_file_atomic(longest, data, 3);
  EXPECT_EQ(gen_test::read_file(longest), "new");
  EXPECT_TRUE(throws_error([&] { gen::write_file_atomic(dir + "/x" + std::string(255, 'n'), data, 3); },
                           ErrorCode::InvalidArgument, "name too long"));
}

TEST(AtomicFile, OutputFolderKeepsWritesInside) {
  const std::string dir = test_dir();
  gen_test::make_dirs(dir + "/out");
  gen_test::make_dirs(dir + "/elsewhere");
  ASSERT_EQ(::symlink((dir + "/elsewhere").c_str(), (dir + "/out/planted").c_str()), 0);
  const gen::OutputFolder folder(dir + "/out", false);
  const char data[] = "img";
  for (const char* bad : {"../x.png", "/abs.png", "a/../../x.png", "a/./x.png", "a//x.png", ""})
    EXPECT_TRUE(throws_error([&] { gen::write_file_atomic(folder, bad, data, 3); }, ErrorCode::InvalidArgument, ""))
        << bad;
  EXPECT_TRUE(throws_error([&] { gen::write_file_atomic(folder, "planted/x.png", data, 3); },
                           ErrorCode::InvalidArgument, "'planted' is a symbolic link"));
  EXPECT_TRUE(gen_test::list_dir(dir + "/elsewhere").empty());
  gen::write_file_atomic(folder, "made/deeper/x.png", data, 3);  // missing folders are made
  EXPECT_EQ(gen_test::read_file(dir + "/out/made/deeper/x.png"), "img");
  EXPECT_TRUE(folder.has_regular_file("made/deeper/x.png"));
  EXPECT_FALSE(folder.has_regular_file("planted"));
  EXPECT_EQ(folder.display("made/deeper/x.png"), dir + "/out/made/deeper/x.png");
}

TEST(AtomicFile, NewNamesAreClaimedWithoutEverReplacing) {
  const std::string dir = test_dir();
  EXPECT_EQ(gen::numbered_name("out/a.png", 2), "out/a-2.png");
  EXPECT_EQ(gen::numbered_name("out.d/a", 1), "out.d/a-1");
  EXPECT_EQ(gen::numbered_name(".hidden", 1), ".hidden-1");
  const char data[] = "new";
  // A free name is taken as it is; a taken one gives the next free numbered name.
  EXPECT_EQ(gen::write_file_new(dir + "/a.png", data, 3), dir + "/a.png");
  EXPECT_EQ(gen::write_file_new(dir + "/a.png", data, 3), dir + "/a-1.png");
  write_file(dir + "/a-2.png", "other program");
  EXPECT_EQ(gen::write_file_new(dir + "/a.png", data, 3), dir + "/a-3.png");
  EXPECT_EQ(gen_test::read_file(dir + "/a-2.png"), "other program");
  // A name another program creates after the file was started (between any check and the
  // commit) is not replaced: commit_new reports it taken, and the next name is claimed.
  {
    gen::AtomicFile f(dir + "/race.png");
    f.write(data, 3);
    write_file(dir + "/race.png", "came first");
    EXPECT_FALSE(f.commit_new("race.png"));
    ASSERT_EQ(::symlink((dir + "/nowhere").c_str(), (dir + "/race-1.png").c_str()), 0);  // a dangling link is taken too
    EXPECT_FALSE(f.commit_new("race-1.png"));
    EXPECT_TRUE(f.commit_new("race-2.png"));
  }
  EXPECT_EQ(gen_test::read_file(dir + "/race.png"), "came first");
  EXPECT_EQ(gen_test::read_file(dir + "/race-2.png"), "new");
  EXPECT_FALSE(gen_test::path_exists(dir + "/nowhere"));
  // Nothing is left behind: no temporary files.
  for (const auto& name : gen_test::list_dir(dir)) EXPECT_EQ(name.find(".gen-"), std::string::npos) << name;
  // Below an output folder: the relative name written is returned.
  gen_test::make_dirs(dir + "/out");
  const gen::OutputFolder folder(dir + "/out", false);
  EXPECT_EQ(gen::write_file_new(folder, "sub/x.png", data, 3), "sub/x.png");
  EXPECT_EQ(gen::write_file_new(folder, "sub/x.png", data, 3), "sub/x-1.png");
  EXPECT_EQ(gen_test::read_file(dir + "/out/sub/x-1.png"), "new");
}
