// A1111 prompt syntax and 77-token windows. Expected weights follow A1111's documented rules:
// (x) ×1.1, [x] ×(1/1.1), (x:w) ×w, multiplied in the order the brackets close; unclosed
// brackets apply at the end. Window contents are built from the real tokenizer's ids.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "gen/error.hpp"
#include "text/prompt_parser.hpp"

using gen::text::ClipPadding;
using gen::text::ClipTokenizer;
using gen::text::parse_prompt_attention;
using gen::text::PromptOptions;
using gen::text::PromptTokens;
using gen::text::tokenize_prompt;
using gen::text::WeightedText;

namespace {

struct Chunk {
  std::string text;
  double weight;
};

void expect_chunks(const std::string& prompt, const std::vector<Chunk>& expected) {
  std::vector<WeightedText> got = parse_prompt_attention(prompt);
  ASSERT_EQ(got.size(), expected.size()) << prompt;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].text, expected[i].text) << prompt << " chunk " << i;
    EXPECT_DOUBLE_EQ(got[i].weight, expected[i].weight) << prompt << " chunk " << i;
  }
}

const double kUp = 1.1, kDown = 1 / 1.1;

}  // namespace

TEST(PromptParser, PlainText) {
  expect_chunks("normal text", {{"normal text", 1.0}});
  expect_chunks("", {{"", 1.0}});
}

TEST(PromptParser, RoundBrackets) {
  expect_chunks("an (important) word", {{"an ", 1.0}, {"important", kUp}, {" word", 1.0}});
  expect_chunks("((text))", {{"text", kUp * kUp}});
  expect_chunks("(((text)))", {{"text", kUp * kUp * kUp}});
  expect_chunks("(unnecessary)(parens)", {{"unnecessaryparens", kUp}});
}

TEST(PromptParser, ExplicitWeights) {
  expect_chunks("(text:1.3)", {{"text", 1.3}});
  expect_chunks("a (b:0.5) c", {{"a ", 1.0}, {"b", 0.5}, {" c", 1.0}});
  expect_chunks("(a:-0.5)", {{"a", -0.5}});
  expect_chunks("(a:+2)", {{"a", 2.0}});
  expect_chunks("(a:.5)", {{"a", 0.5}});
  expect_chunks("((a:1.5))", {{"a", 1.5 * kUp}});
  // Weight syntax without an open bracket is text.
  expect_chunks("a:1.2) b", {{"a:1.2) b", 1.0}});
  // ':' without a number before ')' is text inside the bracket.
  expect_chunks("(a:b)", {{"a:b", kUp}});
  EXPECT_THROW(parse_prompt_attention("(a:1.2.3)"), gen::Error);
  expect_chunks("a:1.2.3)", {{"a:1.2.3)", 1.0}});
}

TEST(PromptParser, SquareBrackets) {
  expect_chunks("[text]", {{"text", kDown}});
  expect_chunks("[[text]]", {{"text", kDown * kDown}});
  expect_chunks("a [b] c", {{"a ", 1.0}, {"b", kDown}, {" c", 1.0}});
}

TEST(PromptParser, A1111DocumentedExample) {
  // a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).  — the outermost '(' never closes.
  expect_chunks("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                {{"a ", 1.0},
                 {"house", 1.3 * kUp * kUp},
                 {" ", kUp},
                 {"on", kDown * kUp},
                 {" a ", kUp},
                 {"hill", 0.5 * kUp},
                 {", sun, ", kUp},
                 {"sky", kUp * kUp * kUp * kUp},
                 {".", kUp}});
}

TEST(PromptParser, EscapesAndBackslashes) {
  expect_chunks("\\(literal\\]", {{"(literal]", 1.0}});
  expect_chunks("\\[a\\) \\\\ b", {{"[a) \\ b", 1.0}});
  expect_chunks("a \\ b", {{"a  b", 1.0}});  // a lone backslash is dropped
  expect_chunks("(\\(x\\))", {{"(x)", kUp}});
}

TEST(PromptParser, UnbalancedBrackets) {
  expect_chunks("(unbalanced", {{"unbalanced", kUp}});
  expect_chunks("[unbalanced", {{"unbalanced", kDown}});
  expect_chunks("a) b] c", {{"a) b] c", 1.0}});
  expect_chunks("(a:1.5", {{"a:1.5", kUp}});
  // Interleaved: '[' closes by ']' and '(' by ')'.
  expect_chunks("[a(b]c)", {{"a", kDown}, {"b", kDown * kUp}, {"c", kUp}});
  expect_chunks("((a) b", {{"a", kUp * kUp}, {" b", kUp}});
}

TEST(PromptParser, Break) {
  expect_chunks("a BREAK b", {{"a", 1.0}, {"BREAK", -1.0}, {"b", 1.0}});
  EXPECT_TRUE(parse_prompt_attention("a BREAK b")[1].is_break());
  expect_chunks("a\nBREAK\n\tb", {{"a", 1.0}, {"BREAK", -1.0}, {"b", 1.0}});
  expect_chunks("BREAK a", {{"", 1.0}, {"BREAK", -1.0}, {"a", 1.0}});
  expect_chunks("aBREAK b BREAKING break", {{"aBREAK b BREAKING break", 1.0}});
  expect_chunks("a,BREAK,b", {{"a,", 1.0}, {"BREAK", -1.0}, {",b", 1.0}});
  // Inside brackets the marker's weight is multiplied: it is then ordinary text.
  auto in_brackets = parse_prompt_attention("(a BREAK b)");
  ASSERT_EQ(in_brackets.size(), 3u);
  EXPECT_EQ(in_brackets[1].text, "BREAK");
  EXPECT_DOUBLE_EQ(in_brackets[1].weight, -1.0 * kUp);
  EXPECT_FALSE(in_brackets[1].is_break());
}

// ---- windows, on the real CLIP vocabulary ----

namespace {

const std::string kVocabGz = std::string(GEN_VOCAB_FILE);

class PromptWindows : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(kVocabGz)) tok_ = std::make_unique<ClipTokenizer>(ClipTokenizer::from_clip_bpe_gz(kVocabGz));
  }
  static void TearDownTestSuite() { tok_.reset(); }
  void SetUp() override {
    if (!tok_) FAIL() << "CLIP vocabulary not found: " << kVocabGz;
  }
  int32_t one(const std::string& word) {
    auto ids = tok_->encode(word);
    EXPECT_EQ(ids.size(), 1u) << word;
    return ids.at(0);
  }
  // BOS + tokens + EOS padding to 75 + EOS.
  std::vector<int32_t> window(const std::vector<int32_t>& tokens) {
    EXPECT_LE(tokens.size(), 75u);
    std::vector<int32_t> w{tok_->bos_id()};
    w.insert(w.end(), tokens.begin(), tokens.end());
    w.resize(76, tok_->eos_id());
    w.push_back(tok_->eos_id());
    return w;
  }
  std::vector<int32_t> ids_of(const PromptTokens& t, int w) {
    return {t.ids.begin() + w * 77, t.ids.begin() + (w + 1) * 77};
  }
  std::vector<float> weights_of(const PromptTokens& t, int w) {
    return {t.weights.begin() + w * 77, t.weights.begin() + (w + 1) * 77};
  }
  static std::unique_ptr<ClipTokenizer> tok_;
};
std::unique_ptr<ClipTokenizer> PromptWindows::tok_;

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_F(PromptWindows, EmptyPromptIsOneWindow) {
  for (const char* p : {"", "   ", "\n"}) {
    PromptTokens t = tokenize_prompt(*tok_, p);
    ASSERT_EQ(t.windows, 1);
    EXPECT_EQ(ids_of(t, 0), window({}));
    EXPECT_EQ(weights_of(t, 0), std::vector<float>(77, 1.0f));
    EXPECT_EQ(t.token_count, 0);
  }
  PromptTokens sd2 = tokenize_prompt(*tok_, "", {ClipPadding::Zero});
  std::vector<int32_t> expected(77, 0);
  expected[0] = tok_->bos_id();
  expected[1] = tok_->eos_id();
  EXPECT_EQ(sd2.ids, expected);
}

TEST_F(PromptWindows, ShortPromptMatchesPaddedTokenizer) {
  const std::string p = "a photo of an astronaut riding a horse on mars";
  PromptTokens t = tokenize_prompt(*tok_, p);
  ASSERT_EQ(t.windows, 1);
  EXPECT_EQ(t.ids, tok_->encode_padded(p, ClipPadding::EndToken));
  EXPECT_EQ(t.weights, std::vector<float>(77, 1.0f));
  EXPECT_EQ(t.token_count, static_cast<int>(tok_->encode(p).size()));
  PromptTokens sd2 = tokenize_prompt(*tok_, p, {ClipPadding::Zero});
  EXPECT_EQ(sd2.ids, tok_->encode_padded(p, ClipPadding::Zero));
}

TEST_F(PromptWindows, WeightsFollowTokens) {
  PromptTokens t = tokenize_prompt(*tok_, "a (cat:1.5) and [dog]");
  ASSERT_EQ(t.windows, 1);
  EXPECT_EQ(t.ids, tok_->encode_padded("a cat and dog", ClipPadding::EndToken));
  std::vector<float> w(77, 1.0f);
  w[2] = 1.5f;
  w[4] = static_cast<float>(1 / 1.1);
  EXPECT_EQ(t.weights, w);
}

TEST_F(PromptWindows, LongPromptSplitsEvery75Tokens) {
  const std::string p = repeat("word ", 160);
  std::vector<int32_t> ids = tok_->encode(p);
  ASSERT_EQ(ids.size(), 160u);
  PromptTokens t = tokenize_prompt(*tok_, p);
  ASSERT_EQ(t.windows, 3);
  EXPECT_EQ(ids_of(t, 0), window({ids.begin(), ids.begin() + 75}));
  EXPECT_EQ(ids_of(t, 1), window({ids.begin() + 75, ids.begin() + 150}));
  EXPECT_EQ(ids_of(t, 2), window({ids.begin() + 150, ids.end()}));
  EXPECT_EQ(t.token_count, 75 + 75 + 10);  // full windows count 75, the last its tokens
  EXPECT_EQ(t.ids.size(), 3u * 77);
  EXPECT_EQ(t.weights.size(), 3u * 77);
}

TEST_F(PromptWindows, SplitsAtLastCommaWithin20Tokens) {
  const int32_t a = one("a"), b = one("b"), comma = one(",");
  // 70 × a, comma, 10 × b: the window fills at the 5th b; the comma is 5 back, so the 4 b
  // after it move to the next window.
  const std::string p = repeat("a ", 70) + ", " + repeat("b ", 10);
  PromptTokens t = tokenize_prompt(*tok_, p);
  ASSERT_EQ(t.windows, 2);
  std::vector<int32_t> first(70, a);
  first.push_back(comma);
  EXPECT_EQ(ids_of(t, 0), window(first));
  EXPECT_EQ(ids_of(t, 1), window(std::vector<int32_t>(10, b)));

  // Backtracking off: a plain cut after 75 tokens.
  PromptOptions no_backtrack;
  no_backtrack.comma_backtrack = 0;
  PromptTokens cut = tokenize_prompt(*tok_, p, no_backtrack);
  ASSERT_EQ(cut.windows, 2);
  first.insert(first.end(), 4, b);
  EXPECT_EQ(ids_of(cut, 0), window(first));
  EXPECT_EQ(ids_of(cut, 1), window(std::vector<int32_t>(6, b)));
}

TEST_F(PromptWindows, CommaTooFarBackIsNotUsed) {
  const int32_t a = one("a"), b = one("b"), comma = one(",");
  // Comma at position 50: 25 tokens back when the window fills (> 20), so a plain cut.
  const std::string p = repeat("a ", 50) + ", " + repeat("b ", 30);
  PromptTokens t = tokenize_prompt(*tok_, p);
  ASSERT_EQ(t.windows, 2);
  std::vector<int32_t> first(50, a);
  first.push_back(comma);
  first.insert(first.end(), 24, b);
  EXPECT_EQ(ids_of(t, 0), window(first));
  EXPECT_EQ(ids_of(t, 1), window(std::vector<int32_t>(6, b)));
}

TEST_F(PromptWindows, BreakStartsNewWindow) {
  const int32_t a = one("a"), b = one("b");
  PromptTokens t = tokenize_prompt(*tok_, "a BREAK b");
  ASSERT_EQ(t.windows, 2);
  EXPECT_EQ(ids_of(t, 0), window({a}));
  EXPECT_EQ(ids_of(t, 1), window({b}));
  EXPECT_EQ(t.token_count, 75 + 1);

  PromptTokens lead = tokenize_prompt(*tok_, "BREAK a");  // closes an empty window first
  ASSERT_EQ(lead.windows, 2);
  EXPECT_EQ(ids_of(lead, 0), window({}));
  EXPECT_EQ(ids_of(lead, 1), window({a}));

  PromptTokens trail = tokenize_prompt(*tok_, "a BREAK");
  ASSERT_EQ(trail.windows, 1);
  EXPECT_EQ(ids_of(trail, 0), window({a}));

  PromptTokens sd2 = tokenize_prompt(*tok_, "a BREAK b", {ClipPadding::Zero});
  for (int w = 0; w < 2; ++w) {
    auto ids = ids_of(sd2, w);
    EXPECT_EQ(ids[2], tok_->eos_id());
    for (int i = 3; i < 77; ++i) EXPECT_EQ(ids[i], 0);
  }
}

TEST_F(PromptWindows, WeightsCarryAcrossWindows) {
  const std::string p = "(" + repeat("word ", 100) + ":1.25)";
  PromptTokens t = tokenize_prompt(*tok_, p);
  ASSERT_EQ(t.windows, 2);
  auto w0 = weights_of(t, 0), w1 = weights_of(t, 1);
  EXPECT_EQ(w0[0], 1.0f);
  for (int i = 1; i <= 75; ++i) EXPECT_EQ(w0[i], 1.25f) << i;
  EXPECT_EQ(w0[76], 1.0f);
  for (int i = 1; i <= 25; ++i) EXPECT_EQ(w1[i], 1.25f) << i;
  for (int i = 26; i < 77; ++i) EXPECT_EQ(w1[i], 1.0f) << i;
}

TEST_F(PromptWindows, NoEmphasisKeepsBracketsAsText) {
  PromptOptions plain;
  plain.emphasis = false;
  PromptTokens t = tokenize_prompt(*tok_, "(cat:1.5)", plain);
  EXPECT_EQ(t.ids, tok_->encode_padded("(cat:1.5)", ClipPadding::EndToken));
  EXPECT_EQ(t.weights, std::vector<float>(77, 1.0f));
}

TEST_F(PromptWindows, NegativePromptPaddedToSameWindowCount) {
  PromptTokens pos = tokenize_prompt(*tok_, repeat("word ", 100));
  PromptTokens neg = tokenize_prompt(*tok_, "");
  ASSERT_EQ(pos.windows, 2);
  gen::text::pad_windows(neg, pos.windows, *tok_, ClipPadding::EndToken);
  ASSERT_EQ(neg.windows, 2);
  EXPECT_EQ(ids_of(neg, 1), window({}));
  EXPECT_EQ(neg.weights, std::vector<float>(2 * 77, 1.0f));
}
