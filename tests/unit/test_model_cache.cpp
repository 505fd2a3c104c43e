// The engine's stages, each alone: the model cache (base models least recently used first,
// ControlNets per base model, the fit check), the tokenizer cache, the text conditioning
// settings and the batch runner (images, seeds and metadata per batch).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "gen/error.hpp"
#include "gen/metadata.hpp"
#include "pipeline/batch_runner.hpp"
#include "pipeline/conditioning.hpp"
#include "pipeline/model_cache.hpp"
#include "tiny_models.hpp"

using gen::test::tiny_models;
using namespace gen::pipeline;

namespace {

gen::Request request_for(const std::string& model) {
  gen::Request r;
  r.model = model;
  r.prompt = "a red house";
  r.width = 32;
  r.height = 32;
  r.steps = 2;
  r.seed = 11;
  return r;
}

std::string sd15() { return tiny_models() + "/diffusers/tiny-sd15-pipeline"; }
std::string sd21() { return tiny_models() + "/diffusers/tiny-sd21-pipeline"; }

}  // namespace

TEST(ModelCache, KeepsBaseModelsLeastRecentlyUsedFirst) {
  ModelCache cache(2);
  LoadSettings s;
  int loaded = 0;
  std::vector<std::string> parts;
  LoadReport report = [&](const std::string& what, const std::string&) { parts.push_back(what); };
  auto* a = &cache.base(request_for(sd15()), s, loaded, report);
  EXPECT_EQ(loaded, 1);
  EXPECT_EQ(parts, (std::vector<std::string>{"UNet", "VAE", "text encoder"}));
  EXPECT_EQ(&cache.base(request_for(sd15()), s, loaded), a);  // cached
  EXPECT_EQ(loaded, 1);
  cache.base(request_for(sd21()), s, loaded);
  EXPECT_EQ(loaded, 2);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(&cache.base(request_for(sd15()), s, loaded), a);  // still there, now most recent
  EXPECT_EQ(loaded, 2);
  // A third model drops the least recently used (SD 2.1), not SD 1.5.
  auto other = request_for(sd15());
  other.prediction = gen::PredictionType::VPrediction;  // another key for the same files
  cache.base(other, s, loaded);
  EXPECT_EQ(loaded, 3);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(&cache.base(request_for(sd15()), s, loaded), a);
  EXPECT_EQ(loaded, 3);
  cache.base(request_for(sd21()), s, loaded);
  EXPECT_EQ(loaded, 4);
}

TEST(ModelCache, ControlNetsPerBaseModelWithinTheLimitAndCheckedToFit) {
  ModelCache cache(1);
  LoadSettings s;
  int loaded = 0;
  auto& base = cache.base(request_for(sd15()), s, loaded);
  gen::ControlRequest a, b;
  a.model = tiny_models() + "/tiny-control-v11.safetensors";
  b.model = tiny_models() + "/tiny-control-sd15-full.safetensors";
  auto* na = &cache.controlnet(base, a, 1, 0, loaded);
  EXPECT_EQ(loaded, 2);
  EXPECT_EQ(&cache.controlnet(base, a, 1, 0, loaded), na);
  EXPECT_EQ(loaded, 2);
  // Limit 1: b replaces a, unless a was already placed by this request (keep = 1).
  cache.controlnet(base, b, 1, 0, loaded);
  EXPECT_EQ(base.controlnets.size(), 1u);
  cache.controlnet(base, a, 1, 1, loaded);
  EXPECT_EQ(base.controlnets.size(), 2u);
  EXPECT_EQ(loaded, 4);
  // A ControlNet whose encoder is not the base UNet's does not fit (its residuals would not
  // match the skips): the tiny ControlNet's config with another text context width.
  auto cfg = base.controlnets.front().second->config();
  cfg.unet.context_dim += 8;
  const gen::control::ControlNet wider(cfg);
  try {
    check_controlnet_fits(wider, *base.unet, "wider.safetensors");
    ADD_FAILURE() << "a ControlNet with another context width fitted";
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), gen::ErrorCode::ModelMismatch);
    EXPECT_NE(std::string(e.what()).find("wider.safetensors: this ControlNet does not fit"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(check_controlnet_fits(*base.controlnets.front().second, *base.unet, "same"));
}

TEST(Conditioning, TokenizerCacheAndTextEncoderSettings) {
  ModelCache cache(1);
  LoadSettings s;
  int loaded = 0;
  auto r = request_for(sd21());
  auto& base = cache.base(r, s, loaded);
  TokenizerCache tokenizers;
  const auto* tok = &tokenizers.get(r, base.tokenizer_dir);
  EXPECT_TRUE(tokenizers.from_folder());  // the pipeline's tokenizer/ folder
  EXPECT_EQ(&tokenizers.get(r, base.tokenizer_dir), tok);  // kept
  r.clip_skip = 2;
  r.prompt_syntax = gen::PromptSyntax::Plain;
  auto enc = text_encoder_for(r, base, tokenizers, *tok);
  EXPECT_EQ(enc.skip, 1);
  EXPECT_FALSE(enc.emphasis);
  EXPECT_EQ(enc.padding, tok->default_padding());
  r.vocab = tiny_models() + "/no-such-vocab.txt.gz";
  EXPECT_THROW(tokenizers.get(r, base.tokenizer_dir), gen::Error);
}

TEST(BatchRunner, EveryBatchGivesItsImagesSeedsAndMetadata) {
  ModelCache cache(1);
  LoadSettings s;
  int loaded = 0;
  auto r = request_for(sd15());
  r.batch_size = 2;
  r.batch_count = 2;
  auto& base = cache.base(r, s, loaded);
  TokenizerCache tokenizers;
  const auto enc = text_encoder_for(r, base, tokenizers, tokenizers.get(r, base.tokenizer_dir));
  BatchJob job;
  job.request = &r;
  job.base = &base;
  job.models = Models{base.unet.get(), base.vae.get(), at::kFloat, c10::Device(c10::kCPU), true, false, nullptr};
  job.denoise.width = r.width;
  job.denoise.height = r.height;
  job.denoise.batch_size = r.batch_size;
  job.denoise.steps = r.steps;
  std::tie(job.negative, job.positive) = encode_prompts(enc, r.prompt, r.negative_prompt);
  std::vector<gen::GeneratedImage> images;
  gen::Callbacks cb;
  cb.on_image = [&](const gen::GeneratedImage& img) { images.push_back(img); };
  gen::Timings timings;
  std::string stage;
  run_batches(job, cb, nullptr, timings, stage);
  ASSERT_EQ(images.size(), 4u);
  EXPECT_EQ(timings.images, 4);
  EXPECT_EQ(stage, "VAE decoding (batch 2)");
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(images[i].index, i);
    EXPECT_EQ(images[i].seed, 11u + i);
    EXPECT_EQ(images[i].batch, i / 2);
    EXPECT_EQ(images[i].index_in_batch, i % 2);
    EXPECT_EQ(images[i].metadata, gen::image_metadata(r, 11u + i, i % 2));
  }
  // Batch 2 is batch 1 of the same request started at seed 13.
  auto second = r;
  second.seed = 13;
  second.batch_count = 1;
  job.request = &second;
  std::vector<gen::GeneratedImage> again;
  cb.on_image = [&](const gen::GeneratedImage& img) { again.push_back(img); };
  run_batches(job, cb, nullptr, timings, stage);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].image.data8, images[2].image.data8);
  EXPECT_EQ(again[1].image.data8, images[3].image.data8);
}
