// Textual-inversion embeddings: the file layouts (src/adapters/embedding_file.hpp), where a
// prompt's embedding names land in the 77-token windows (A1111's sd_hijack_clip rules, with the
// real CLIP vocabulary: the name tokenised, matched in the chunk's tokens, replaced by one
// placeholder per vector) and the text model's token overrides (the same as the vectors standing
// in the token table; emphasis weighs every vector's row as any token's).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>

#include "adapters/embedding_file.hpp"
#include "gen/error.hpp"
#include "model_fixtures.hpp"
#include "models/clip_text.hpp"
#include "models/loader.hpp"
#include "pipeline/conditioning.hpp"
#include "text/prompt_parser.hpp"

using gen::text::ClipTokenizer;
using gen::text::EmbeddingNames;
using gen::text::EmbeddingUse;
using gen::text::PromptOptions;
using gen::text::PromptTokens;
using gen::text::tokenize_prompt;

namespace {

const std::string kVocabGz = std::string(GEN_VOCAB_FILE);

std::pair<gen::ErrorCode, std::string> error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const gen::Error& e) {
    return {e.code(), e.what()};
  }
  return {gen::ErrorCode::Ok, ""};
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

class EmbeddingPrompts : public ::testing::Test {
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
  // Registers `name` with `vectors` vectors as index `index`.
  void add(const std::string& name, int vectors, int index) { names_.add({tok_->encode(name), vectors, index}); }
  PromptTokens run(const std::string& prompt, PromptOptions opt = {}) {
    opt.embeddings = &names_;
    return tokenize_prompt(*tok_, prompt, opt);
  }
  // BOS + tokens + EOS padding to 75 + EOS.
  std::vector<int32_t> window(const std::vector<int32_t>& tokens) {
    std::vector<int32_t> w{tok_->bos_id()};
    w.insert(w.end(), tokens.begin(), tokens.end());
    w.resize(76, tok_->eos_id());
    w.push_back(tok_->eos_id());
    return w;
  }
  std::vector<int32_t> ids_of(const PromptTokens& t, int w) { return {t.ids.begin() + w * 77, t.ids.begin() + (w + 1) * 77}; }
  static std::unique_ptr<ClipTokenizer> tok_;
  EmbeddingNames names_;
};
std::unique_ptr<ClipTokenizer> EmbeddingPrompts::tok_;

void expect_use(const EmbeddingUse& u, int window, int position, int vectors, int index) {
  EXPECT_EQ(u.window, window);
  EXPECT_EQ(u.position, position);
  EXPECT_EQ(u.vectors, vectors);
  EXPECT_EQ(u.index, index);
}

}  // namespace

TEST_F(EmbeddingPrompts, ANameBecomesOnePlaceholderPerVector) {
  ASSERT_GT(tok_->encode("ticat").size(), 1u);  // a made-up word: several tokens, matched as a sequence
  add("ticat", 3, 7);
  const PromptTokens t = run("a photo of ticat, on a table");
  ASSERT_EQ(t.windows, 1);
  std::vector<int32_t> want = tok_->encode("a photo of");
  want.insert(want.end(), 3, 0);
  for (int32_t id : tok_->encode(", on a table")) want.push_back(id);
  EXPECT_EQ(ids_of(t, 0), window(want));
  ASSERT_EQ(t.embeddings.size(), 1u);
  expect_use(t.embeddings[0], 0, 4, 3, 7);  // after BOS, a, photo, of
  EXPECT_EQ(t.token_count, static_cast<int>(want.size()));
  // Without the name registered the word is plain text.
  const PromptTokens plain = tokenize_prompt(*tok_, "a photo of ticat, on a table");
  EXPECT_TRUE(plain.embeddings.empty());
  EXPECT_EQ(plain.ids, tok_->encode_padded("a photo of ticat, on a table", gen::text::ClipPadding::EndToken));
}

TEST_F(EmbeddingPrompts, EmphasisWeighsEveryVector) {
  add("ticat", 4, 0);
  const PromptTokens t = run("a (ticat:1.2) dog [ticat]");
  ASSERT_EQ(t.embeddings.size(), 2u);
  expect_use(t.embeddings[0], 0, 2, 4, 0);
  expect_use(t.embeddings[1], 0, 7, 4, 0);
  std::vector<float> w(77, 1.0f);
  for (int i = 2; i < 6; ++i) w[i] = 1.2f;
  for (int i = 7; i < 11; ++i) w[i] = static_cast<float>(1 / 1.1);
  EXPECT_EQ(std::vector<float>(t.weights.begin(), t.weights.end()), w);
  EXPECT_EQ(ids_of(t, 0), window({one("a"), 0, 0, 0, 0, one("dog"), 0, 0, 0, 0}));
}

TEST_F(EmbeddingPrompts, TheLongestNameWinsThenTheFirstAdded) {
  add("ticat", 1, 0);
  add("ticat dog", 2, 1);  // a file name with a space: three tokens
  add("tidog", 1, 2);
  add("TIDOG", 1, 3);      // the same tokens: the one added first wins (A1111's stable sort)
  const PromptTokens t = run("ticat dog ticat tidog");
  ASSERT_EQ(t.embeddings.size(), 3u);
  expect_use(t.embeddings[0], 0, 1, 2, 1);
  expect_use(t.embeddings[1], 0, 3, 1, 0);
  expect_use(t.embeddings[2], 0, 4, 1, 2);
  EXPECT_EQ(ids_of(t, 0), window({0, 0, 0, 0}));
}

TEST_F(EmbeddingPrompts, AnEmbeddingThatDoesNotFitStartsTheNextWindow) {
  const int32_t a = one("a");
  add("ticat", 3, 0);
  // 72 tokens + 3 vectors = 75: it fits.
  PromptTokens fits = run(repeat("a ", 72) + "ticat");
  ASSERT_EQ(fits.windows, 1);
  expect_use(fits.embeddings.at(0), 0, 73, 3, 0);
  // 73 + 3 > 75: the window closes (padded) and the embedding starts the next one.
  PromptTokens next = run(repeat("a ", 73) + "ticat a");
  ASSERT_EQ(next.windows, 2);
  EXPECT_EQ(ids_of(next, 0), window(std::vector<int32_t>(73, a)));
  EXPECT_EQ(ids_of(next, 1), window({0, 0, 0, a}));
  ASSERT_EQ(next.embeddings.size(), 1u);
  expect_use(next.embeddings[0], 1, 1, 3, 0);
  EXPECT_EQ(next.token_count, 75 + 4);
}

TEST_F(EmbeddingPrompts, ANameMustLieInOneChunkOfText) {
  add("big cat", 2, 0);
  EXPECT_EQ(run("a big cat").embeddings.size(), 1u);
  EXPECT_EQ(run("a (big cat:1.3)").embeddings.size(), 1u);
  // "big " and "cat" are chunks of different weights, tokenised apart: no match (as A1111).
  EXPECT_TRUE(run("a big (cat)").embeddings.empty());
  // BREAK between the words, likewise.
  EXPECT_TRUE(run("a big BREAK cat").embeddings.empty());
}

TEST_F(EmbeddingPrompts, TheCommaRuleLeavesEmbeddingPositionsBehindAsA1111Does) {
  const int32_t a = one("a"), b = one("b"), comma = one(",");
  add("ticat", 2, 0);
  // 72 × a, comma, ticat (2 vectors) fill the window; at "b" the comma is 3 back, so what follows
  // it moves to the next window: the placeholders go, their fix stays (A1111's tokenize_line
  // moves tokens and multipliers, not chunk.fixes).
  const PromptTokens t = run(repeat("a ", 72) + ", ticat b");
  ASSERT_EQ(t.windows, 2);
  std::vector<int32_t> first(72, a);
  first.push_back(comma);
  EXPECT_EQ(ids_of(t, 0), window(first));
  EXPECT_EQ(ids_of(t, 1), window({0, 0, b}));
  ASSERT_EQ(t.embeddings.size(), 1u);
  expect_use(t.embeddings[0], 0, 74, 2, 0);  // on window 0's padding
}

TEST_F(EmbeddingPrompts, PlainSyntaxStillFindsNames) {
  add("ticat", 2, 0);
  PromptOptions plain;
  plain.emphasis = false;
  const PromptTokens t = run("(ticat:1.5)", plain);
  ASSERT_EQ(t.embeddings.size(), 1u);
  EXPECT_EQ(t.embeddings[0].position, 2);  // after BOS and "("
  EXPECT_EQ(std::vector<float>(t.weights.begin(), t.weights.end()), std::vector<float>(77, 1.0f));
}

TEST_F(EmbeddingPrompts, NamedListsEachIndexOnceInOrderOfFirstUse) {
  add("ticat", 2, 0);
  add("tidog", 1, 1);
  PromptOptions opt;
  opt.embeddings = &names_;
  EXPECT_EQ(gen::text::embeddings_named(*tok_, "tidog and ticat, (ticat:0.5), tidog", opt), (std::vector<int>{1, 0}));
  EXPECT_TRUE(gen::text::embeddings_named(*tok_, "a cat", opt).empty());
}

TEST_F(EmbeddingPrompts, ZeroPaddingKeepsThePlaceholders) {
  add("ticat", 2, 0);
  PromptOptions sd2;
  sd2.padding = gen::text::ClipPadding::Zero;
  const PromptTokens t = run("ticat a", sd2);
  const auto ids = ids_of(t, 0);
  EXPECT_EQ(ids[1], 0);
  EXPECT_EQ(ids[2], 0);
  EXPECT_EQ(ids[3], one("a"));
  EXPECT_EQ(ids[4], tok_->eos_id());
  expect_use(t.embeddings.at(0), 0, 1, 2, 0);
}

// ---------------------------------------------------------------- the file layouts

namespace {

at::Tensor randn(std::vector<std::int64_t> shape, int seed) {
  auto g = at::detail::createCPUGenerator(seed);
  return at::randn(shape, g);
}

}  // namespace

TEST(EmbeddingFile, EachLayoutGivesItsVectors) {
  using gen::adapters::parse_embedding_tensors;
  const auto v = randn({3, 8}, 1);
  // A1111's .pt, as the pickle reader flattens it ('string_to_param' → '*').
  auto a = parse_embedding_tensors("/e/ticat.pt", {{"string_to_param.*", v}});
  EXPECT_EQ(a.name, "ticat");
  EXPECT_EQ(a.layout, "a1111");
  EXPECT_EQ(a.count, 3);
  EXPECT_TRUE(at::equal(a.vectors.at(""), v));
  // kohya's emb_params, in half precision: widened to float32.
  auto k = parse_embedding_tensors("/e/style.safetensors", {{"emb_params", v.to(at::kHalf)}});
  EXPECT_EQ(k.layout, "single");
  EXPECT_EQ(k.vectors.at("").scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(k.vectors.at(""), v.to(at::kHalf).to(at::kFloat)));
  // diffusers' learned_embeds: one token, one [C] vector.
  auto d = parse_embedding_tensors("/e/learned_embeds.bin", {{"<cat-toy>", v[1]}});
  EXPECT_EQ(d.count, 1);
  EXPECT_EQ(d.vectors.at("").sizes(), (std::vector<std::int64_t>{1, 8}));
  EXPECT_EQ(d.name, "learned_embeds");
  // SDXL: clip_l + clip_g, the width A1111 compares is their sum.
  auto x = parse_embedding_tensors("/e/xl.safetensors", {{"clip_l", randn({2, 8}, 2)}, {"clip_g", randn({2, 12}, 3)}});
  EXPECT_EQ(x.layout, "sdxl");
  EXPECT_EQ(x.width(), 20);
  EXPECT_EQ(x.count, 2);
}

TEST(EmbeddingFile, BadContentIsRefusedNamingTheFile) {
  using gen::adapters::parse_embedding_tensors;
  using gen::ErrorCode;
  const auto v = randn({2, 8}, 4);
  auto nan = v.clone();
  nan[1][3] = std::numeric_limits<float>::quiet_NaN();
  const std::pair<std::map<std::string, at::Tensor>, std::string> cases[] = {
      {{{"emb_params", nan}}, "tensor 'emb_params' holds NaN or infinite values"},
      {{}, "holds no embedding tensor"},
      {{{"a", v}, {"b", v}}, "holds 2 tensors (a, b) and no string_to_param"},
      {{{"string_to_param.*", v}, {"string_to_param.x", v}}, "its string_to_param holds 2 tensors"},
      {{{"emb_params", randn({1, 2, 8}, 5)}}, "has shape [1, 2, 8]; an embedding is [C] or [vectors, C]"},
      {{{"emb_params", at::ones({2, 8}, at::kLong)}}, "is not floating point"},
      {{{"emb_params", at::zeros({0, 8})}}, "is empty [0, 8]"},
      {{{"clip_l", randn({2, 8}, 6)}, {"clip_g", randn({3, 12}, 7)}}, "have different numbers of vectors"},
  };
  for (const auto& [tensors, want] : cases) {
    const auto [code, message] = error_of([&] { parse_embedding_tensors("/e/bad.pt", tensors); });
    EXPECT_EQ(code, ErrorCode::InvalidFormat) << want;
    EXPECT_NE(message.find("/e/bad.pt: "), std::string::npos) << message;
    EXPECT_NE(message.find(want), std::string::npos) << message;
  }
}

TEST(EmbeddingFile, AWidthMismatchNamesBothWidths) {
  using gen::adapters::parse_embedding_tensors;
  const auto sd2 = parse_embedding_tensors("/e/sd2.safetensors", {{"emb_params", randn({2, 1024}, 8)}});
  EXPECT_EQ(gen::adapters::vectors_for(sd2, 1024, "m").size(0), 2);
  auto [code, message] = error_of([&] { gen::adapters::vectors_for(sd2, 768, "v1-5.safetensors"); });
  EXPECT_EQ(code, gen::ErrorCode::ModelMismatch);
  EXPECT_EQ(message,
            "/e/sd2.safetensors: is an embedding of width 1024 (SD 2.x) but the model's text encoder takes 768 "
            "(SD 1.x) (v1-5.safetensors)");
  const auto xl = parse_embedding_tensors("/e/xl.safetensors", {{"clip_l", randn({1, 768}, 9)}, {"clip_g", randn({1, 1280}, 10)}});
  std::tie(code, message) = error_of([&] { gen::adapters::vectors_for(xl, 768, "m"); });
  EXPECT_EQ(code, gen::ErrorCode::ModelMismatch);
  EXPECT_NE(message.find("width 2048 (SDXL) (clip_l 768 + clip_g 1280) but the model's text encoder takes 768"),
            std::string::npos)
      << message;
  // On SDXL: clip_l for the first encoder, clip_g for the second (a refiner: clip_g only).
  const auto [l, g] = gen::adapters::sdxl_vectors_for(xl, 768, 1280, "m");
  EXPECT_TRUE(at::equal(l, xl.vectors.at("clip_l")));
  EXPECT_TRUE(at::equal(g, xl.vectors.at("clip_g")));
  const auto [none, g2] = gen::adapters::sdxl_vectors_for(xl, 0, 1280, "refiner");
  EXPECT_FALSE(none.defined());
  EXPECT_TRUE(at::equal(g2, xl.vectors.at("clip_g")));
  // A one-encoder file on SDXL, and an SDXL file of other widths, name both.
  std::tie(code, message) = error_of([&] { gen::adapters::sdxl_vectors_for(sd2, 768, 1280, "xl.safetensors"); });
  EXPECT_EQ(code, gen::ErrorCode::ModelMismatch);
  EXPECT_EQ(message,
            "/e/sd2.safetensors: is an embedding of width 1024 (SD 2.x) but the model is SDXL and takes one vector set "
            "per text encoder: clip_l 768 + clip_g 1280 (xl.safetensors)");
  std::tie(code, message) = error_of([&] { gen::adapters::sdxl_vectors_for(xl, 768, 1024, "m"); });
  EXPECT_EQ(code, gen::ErrorCode::ModelMismatch);
  EXPECT_NE(message.find("(clip_l 768 + clip_g 1280) but the model is SDXL"), std::string::npos) << message;
}

// ---------------------------------------------------------------- the text model

namespace {

std::unique_ptr<gen::models::ClipTextModel> text_model(const std::string& name, gen::models::ClipTextConfig::Layout layout) {
  auto cfg = gen::models::ClipTextConfig::from_transformers(gen::test::read_json(gen::test::model_fixture(name + ".json")), name);
  cfg.layout = layout;
  auto te = std::make_unique<gen::models::ClipTextModel>(cfg);
  auto ckpt = gen::SafetensorsCheckpoint::open(gen::test::model_fixture(name + ".safetensors"));
  gen::models::load_weights(*te, ckpt, gen::models::LoadOptions{}, name);
  return te;
}

at::Tensor& token_table(gen::models::ClipTextModel& te) {
  at::Tensor* table = nullptr;
  te.visit([&](const std::string& n, gen::models::Module::Param& p) {
    if (n.find("token_embedding") != std::string::npos) table = &p.value;
  });
  return *table;
}

}  // namespace

TEST(EmbeddingTextModel, OverridesActAsRowsOfTheTokenTable) {
  using Layout = gen::models::ClipTextConfig::Layout;
  for (const auto& [name, layout] : {std::pair{"te_sd1", Layout::HuggingFace}, std::pair{"te_sd2", Layout::OpenClip}}) {
    auto te = text_model(name, layout);
    const auto width = te->config().width;
    const at::Tensor table_before = token_table(*te).clone();
    auto ids = at::randint(1, 990, {2, 77}, at::detail::createCPUGenerator(11), at::kLong);
    const auto v = randn({3, width}, 12), w = randn({1, width}, 13);
    auto placeholders = ids.clone();
    placeholders[1].narrow(0, 5, 3).fill_(0);
    placeholders[0][70] = 0;
    const auto got = te->forward(placeholders, 0, at::ScalarType::Undefined, {{1, 5, v}, {0, 70, w}});
    EXPECT_TRUE(at::equal(token_table(*te), table_before)) << name << ": the table changed";
    // The same vectors written into spare rows of the table, the ids pointing at them.
    auto& table = token_table(*te);
    table.narrow(0, 995, 3).copy_(v);
    table[994].copy_(w[0]);
    auto spare = ids.clone();
    spare[1].narrow(0, 5, 3).copy_(at::arange(995, 998, at::kLong));
    spare[0][70] = 994;
    const auto want = te->forward(spare, 0);
    EXPECT_LE(gen::test::relative_error(got, want), 1e-6) << name;
    const auto skip = te->forward(placeholders, 1, at::ScalarType::Undefined, {{1, 5, v}, {0, 70, w}});
    EXPECT_LE(gen::test::relative_error(skip, te->forward(spare, 1)), 1e-6) << name;
    // An override that does not fit is refused.
    EXPECT_EQ(error_of([&] { te->forward(ids, 0, at::ScalarType::Undefined, {{0, 75, v}}); }).first,
              gen::ErrorCode::InvalidArgument);
  }
}

TEST(EmbeddingTextModel, EmphasisScalesEveryVectorRowAsAnyTokenRow) {
  auto te = text_model("te_sd1", gen::models::ClipTextConfig::Layout::HuggingFace);
  gen::pipeline::PromptEmbeddings emb;
  emb.vectors.push_back(randn({3, te->config().width}, 14));
  gen::pipeline::TextEncoder enc;
  enc.model = te.get();
  enc.embeddings = &emb;
  PromptTokens plain;
  plain.windows = 1;
  plain.ids.assign(77, 999);
  plain.ids[0] = 998;
  for (int i = 1; i < 8; ++i) plain.ids[i] = 100 + i;
  for (int i = 3; i < 6; ++i) plain.ids[i] = 0;
  plain.weights.assign(77, 1.0f);
  plain.embeddings.push_back({0, 3, 3, 0});
  PromptTokens weighted = plain;
  for (int i = 3; i < 6; ++i) weighted.weights[i] = 1.2f;  // "(name:1.2)" of a 3-vector embedding
  const auto z = gen::pipeline::encode_tokens(enc, plain)[0], zw = gen::pipeline::encode_tokens(enc, weighted)[0];
  // A1111's emphasis: row t × weight t, then everything × one factor (the mean restored). So
  // row t's scale over row 0's is weight t / weight 0: 1.2 on the three vector rows, 1 elsewhere.
  const auto scale = (zw * z).sum(1) / (z * z).sum(1);
  const double s0 = scale[0].item<double>();
  for (int t = 0; t < 77; ++t) {
    const double want = t >= 3 && t < 6 ? 1.2 : 1.0;
    EXPECT_NEAR(scale[t].item<double>() / s0, want, 1e-5) << "row " << t;
    EXPECT_LE(gen::test::relative_error(zw[t], z[t] * scale[t]), 1e-5) << "row " << t;
  }
  // And the vectors were used: without them the rows differ.
  enc.embeddings = nullptr;
  PromptTokens none = plain;
  none.embeddings.clear();
  EXPECT_GT((gen::pipeline::encode_tokens(enc, none)[0] - z).abs().max().item<double>(), 1e-3);
}
