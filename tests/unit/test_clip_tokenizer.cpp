// CLIP tokenizer against ids computed by the reference tokenizers
// (tests/data/tokenizer/prompts.json, written by tools/make_tokenizer_fixtures.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "gen/error.hpp"
#include "text/clip_tokenizer.hpp"

namespace fs = std::filesystem;
using gen::ErrorCode;
using gen::text::ClipPadding;
using gen::text::ClipTokenizer;
using gen::text::Cleanup;

namespace {

const std::string kVocabGz = std::string(GEN_VOCAB_FILE);
const std::string kTinyDir = std::string(GEN_TEST_DATA_DIR) + "/tokenizer/tiny";

const nlohmann::json& fixtures() {
  static const nlohmann::json doc = [] {
    std::ifstream in(std::string(GEN_TEST_DATA_DIR) + "/tokenizer/prompts.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());
  }();
  return doc;
}

fs::path temp_dir(const std::string& name) {
  const char* base = std::getenv("GEN_TMP");
  fs::path dir = fs::path(base ? base : fs::temp_directory_path().string()) /
                 ("gen_tok_" + name + "_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary);
  out << data;
}

std::string read(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string show(const std::vector<int32_t>& v) {
  std::string s;
  for (int32_t x : v) s += std::to_string(x) + " ";
  return s;
}

ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const gen::Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return ErrorCode::Ok;
}

class TokenizerClip : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kVocabGz)) return;
    ftfy_ = new ClipTokenizer(ClipTokenizer::from_clip_bpe_gz(kVocabGz));
  }
  static void TearDownTestSuite() {
    delete ftfy_;
    ftfy_ = nullptr;
  }
  void SetUp() override {
    if (!ftfy_) FAIL() << "CLIP vocabulary not found: " << kVocabGz;
  }
  // Compares every fixture prompt; `field` names the expected ids, falling back to "ids".
  static void check_all(const ClipTokenizer& tok, const char* field) {
    int failures = 0, compared = 0;
    for (const auto& c : fixtures()["cases"]) {
      std::string text = c["text"];
      auto expected = c.contains(field) ? c[field].get<std::vector<int32_t>>() : c["ids"].get<std::vector<int32_t>>();
      auto got = tok.encode(text);
      ++compared;
      if (got != expected && ++failures <= 10)
        ADD_FAILURE() << field << " mismatch for " << nlohmann::json(text).dump() << "\n  expected " << show(expected)
                      << "\n  got      " << show(got);
    }
    EXPECT_EQ(failures, 0) << "of " << compared;
    EXPECT_GE(compared, 300);
  }
  static ClipTokenizer* ftfy_;
};
ClipTokenizer* TokenizerClip::ftfy_ = nullptr;

}  // namespace

TEST_F(TokenizerClip, VocabularyShape) {
  EXPECT_EQ(ftfy_->vocab_size(), 49408u);
  EXPECT_EQ(ftfy_->bos_id(), 49406);
  EXPECT_EQ(ftfy_->eos_id(), 49407);
  EXPECT_EQ(ftfy_->token_to_id("!"), 0);
  EXPECT_EQ(ftfy_->token_to_id(",</w>"), 267);
}

TEST_F(TokenizerClip, MatchesSlowTransformersWithFtfy) { check_all(*ftfy_, "ids"); }

TEST_F(TokenizerClip, MatchesTransformers5Tokenizer) {
  auto tok = ClipTokenizer::from_clip_bpe_gz(kVocabGz, Cleanup::NfcOnly);
  check_all(tok, "fast");
}

TEST_F(TokenizerClip, MatchesOpenClipCleanup) {
  auto tok = ClipTokenizer::from_clip_bpe_gz(kVocabGz, Cleanup::FtfyHtml);
  check_all(tok, "openclip");
}

TEST_F(TokenizerClip, PaddedFormsSd1AndSd2) {
  int sd1 = 0, sd2 = 0;
  for (const auto& c : fixtures()["cases"]) {
    std::string text = c["text"];
    auto padded = ftfy_->encode_padded(text, ClipPadding::EndToken);
    ASSERT_EQ(padded.size(), 77u);
    EXPECT_EQ(padded, c["sd1"].get<std::vector<int32_t>>()) << text;
    ++sd1;
    if (c.contains("sd2")) {
      EXPECT_EQ(ftfy_->encode_padded(text, ClipPadding::Zero), c["sd2"].get<std::vector<int32_t>>()) << text;
      ++sd2;
    }
  }
  EXPECT_GE(sd1, 300);
  EXPECT_GE(sd2, 5);
}

TEST_F(TokenizerClip, EmptyPromptIsBosEosPadding) {
  auto ids = ftfy_->encode_padded("", ClipPadding::EndToken);
  EXPECT_EQ(ids[0], 49406);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_EQ(ids[i], 49407);
  auto ids2 = ftfy_->encode_padded("  \t\n", ClipPadding::Zero);
  EXPECT_EQ(ids2[0], 49406);
  EXPECT_EQ(ids2[1], 49407);
  for (size_t i = 2; i < ids2.size(); ++i) EXPECT_EQ(ids2[i], 0);
}

TEST_F(TokenizerClip, ConcurrentEncodeIsConsistent) {
  auto tok = ClipTokenizer::from_clip_bpe_gz(kVocabGz);
  const auto& cases = fixtures()["cases"];
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < cases.size(); i += 1) {
        if (tok.encode(cases[i]["text"].get<std::string>()) != cases[i]["ids"].get<std::vector<int32_t>>())
          ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST_F(TokenizerClip, InvalidUtf8IsAnInvalidArgument) {
  EXPECT_EQ(code_of([&] { ftfy_->encode("caf\xc3"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { ftfy_->encode("\xed\xa0\x80"); }), ErrorCode::InvalidArgument);  // surrogate
  EXPECT_EQ(code_of([&] { ftfy_->encode("\xc0\xaf"); }), ErrorCode::InvalidArgument);      // overlong
}

TEST_F(TokenizerClip, TruncatedGzipIsInvalidFormat) {
  fs::path dir = temp_dir("trunc");
  std::string data = read(kVocabGz);
  write(dir / "half.gz", data.substr(0, data.size() / 2));
  std::string msg;
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_clip_bpe_gz((dir / "half.gz").string()); }, &msg),
            ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("half.gz"), std::string::npos) << msg;
}

TEST(TokenizerClipFolder, MatchesSlowTransformersOnSyntheticFolder) {
  auto tok = ClipTokenizer::from_folder(kTinyDir);
  EXPECT_EQ(tok.default_padding(), ClipPadding::Zero);
  int n = 0;
  for (const auto& c : fixtures()["tiny"]) {
    std::string text = c["text"];
    EXPECT_EQ(tok.encode(text), c["ids"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ(tok.encode_padded(text, tok.default_padding()), c["sd2"].get<std::vector<int32_t>>()) << text;
    ++n;
  }
  EXPECT_GE(n, 40);
}

TEST(TokenizerClipErrors, MissingFilesAreNotFound) {
  std::string msg;
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_clip_bpe_gz("/nonexistent/bpe.txt.gz"); }, &msg), ErrorCode::NotFound);
  EXPECT_NE(msg.find("/nonexistent/bpe.txt.gz"), std::string::npos);
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_folder("/nonexistent/tokenizer"); }), ErrorCode::NotFound);
  fs::path dir = temp_dir("novocab");
  fs::copy_file(fs::path(kTinyDir) / "merges.txt", dir / "merges.txt");
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_folder(dir.string()); }, &msg), ErrorCode::NotFound);
  EXPECT_NE(msg.find("vocab.json"), std::string::npos) << msg;
}

TEST(TokenizerClipErrors, CorruptGzipIsInvalidFormat) {
  fs::path dir = temp_dir("gz");
  write(dir / "plain.txt.gz", "#version 0.2\nh e\n");
  std::string msg;
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_clip_bpe_gz((dir / "plain.txt.gz").string()); }, &msg),
            ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("plain.txt.gz"), std::string::npos) << msg;
  std::string bad("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-garbage-garbage", 33);
  write(dir / "bad.gz", bad);
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_clip_bpe_gz((dir / "bad.gz").string()); }, &msg),
            ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("bad.gz"), std::string::npos) << msg;
}

TEST(TokenizerClipErrors, MalformedMergesLineIsInvalidFormat) {
  fs::path dir = temp_dir("merges");
  fs::copy_file(fs::path(kTinyDir) / "vocab.json", dir / "vocab.json");
  write(dir / "merges.txt", read(kTinyDir + "/merges.txt") + "abc\n");
  std::string msg;
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_folder(dir.string()); }, &msg), ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("merges.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line"), std::string::npos) << msg;
  write(dir / "merges.txt", "#version: 0.2\na b c\n");
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_folder(dir.string()); }), ErrorCode::InvalidFormat);
}

TEST(TokenizerClipErrors, BadVocabJsonIsInvalidFormat) {
  fs::path dir = temp_dir("vocab");
  fs::copy_file(fs::path(kTinyDir) / "merges.txt", dir / "merges.txt");
  write(dir / "vocab.json", "{\"a\": 1,");
  std::string msg;
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_folder(dir.string()); }, &msg), ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("vocab.json"), std::string::npos) << msg;
  write(dir / "vocab.json", "{\"a\": \"x\"}");
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_folder(dir.string()); }), ErrorCode::InvalidFormat);
  write(dir / "vocab.json", "{\"a\": 1}");  // no special tokens
  EXPECT_EQ(code_of([&] { ClipTokenizer::from_folder(dir.string()); }), ErrorCode::InvalidFormat);
}
