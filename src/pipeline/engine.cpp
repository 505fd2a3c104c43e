#include "pipeline/engine.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <sstream>

#include "control/control_image.hpp"
#include "control/controlnet_files.hpp"
#include "gen/error.hpp"
#include "models/model_files.hpp"
#include "pipeline/conditioning.hpp"
#include "pipeline/generate.hpp"
#include "text/clip_tokenizer.hpp"

namespace gen::pipeline {
namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
std::string dirname_of(const std::string& p) {
  const auto slash = p.find_last_of('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

c10::Device pick_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda") {
    if (!at::hasCUDA()) fail(ErrorCode::Unsupported, "device", "cuda was asked for but no CUDA GPU is available");
    return c10::Device(c10::kCUDA, 0);
  }
  return at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
}

at::ScalarType pick_dtype(const std::string& name, const c10::Device& device) {
  if (name == "fp32") return at::kFloat;
  if (name == "fp16") return at::kHalf;
  if (name == "bf16") return at::kBFloat16;
  return device.is_cuda() ? at::kHalf : at::kFloat;
}

}  // namespace

struct Engine::State {
  // The loaded base model, kept while requests name the same one.
  std::string key;
  // What the model files said, kept after they are closed (their mappings released, so the
  // file pages do not stay resident beside the converted weights).
  struct ModelInfo {
    models::ModelFamily family = models::ModelFamily::SD1;
    std::int64_t clip_skip = 0;
    nlohmann::json scheduler_config;
    std::string prediction = "epsilon";
    std::string tokenizer_dir;
    std::string summary;
  } info;
  std::unique_ptr<models::UNet> unet;
  std::unique_ptr<models::Vae> vae;
  std::unique_ptr<models::ClipTextModel> text;
  std::string vocab_key;
  std::unique_ptr<text::ClipTokenizer> tokenizer;
  bool tokenizer_from_folder = false;
  std::map<std::string, std::unique_ptr<control::ControlNet>> controlnets;  // by path
  c10::Device device = c10::Device(c10::kCPU);
  at::ScalarType dtype = at::kFloat;
  std::string summary;
};

Engine::Engine() : s_(std::make_unique<State>()) {}
Engine::~Engine() = default;

std::string Engine::summary() const { return s_->summary; }

Request resolve_seed(Request r) {
  if (!r.seed) {
    std::random_device rd;
    r.seed = static_cast<std::uint64_t>(rd()) & 0xffffffffu;
  }
  return r;
}

namespace {

std::unique_ptr<text::ClipTokenizer> open_tokenizer(const Request& r, const std::string& tokenizer_dir,
                                                    bool& from_folder) {
  std::string vocab = r.vocab;
  if (vocab.empty() && !tokenizer_dir.empty()) vocab = tokenizer_dir;
  if (vocab.empty()) {
    const std::string beside = dirname_of(r.model) + "/bpe_simple_vocab_16e6.txt.gz";
    if (is_file(beside)) vocab = beside;
  }
  if (vocab.empty()) {
    if (const char* env = std::getenv("GEN_VOCAB")) vocab = env;
  }
  if (vocab.empty())
    fail(ErrorCode::NotFound, r.model,
         "no CLIP vocabulary: pass --vocab bpe_simple_vocab_16e6.txt.gz (or a tokenizer/ folder), "
         "put that file beside the model, or set GEN_VOCAB");
  from_folder = is_dir(vocab);
  // auto: what the model's own ecosystem does — diffusers folders are tokenized by
  // transformers 5 (NFC, whitespace, lower case), the bare CLIP vocabulary as A1111 / CLIP do.
  const auto cleanup = r.text_cleanup == "ftfy" ? text::Cleanup::Ftfy
                       : r.text_cleanup == "nfc" ? text::Cleanup::NfcOnly
                       : from_folder             ? text::Cleanup::NfcOnly
                                                 : text::Cleanup::Ftfy;
  auto tok = from_folder ? text::ClipTokenizer::from_folder(vocab, cleanup)
                         : text::ClipTokenizer::from_clip_bpe_gz(vocab, cleanup);
  return std::make_unique<text::ClipTokenizer>(std::move(tok));
}

}  // namespace

void Engine::generate(const Request& req, const std::function<void(const GeneratedImage&)>& on_image,
                      const std::function<void(const Progress&)>& on_progress, const std::atomic<bool>* cancel) {
  // libtorch's errors become gen::Error here, so callers see one error type.
  try {
    run(req, on_image, on_progress, cancel);
  } catch (const c10::OutOfMemoryError& e) {
    fail(ErrorCode::OutOfMemory, "generation",
         std::string("out of GPU memory (") + e.what_without_backtrace() +
             "); try a smaller size or batch, or --device cpu");
  } catch (const c10::Error& e) {
    fail(ErrorCode::Internal, "generation", e.what_without_backtrace());
  }
}

void Engine::run(const Request& req, const std::function<void(const GeneratedImage&)>& on_image,
                 const std::function<void(const Progress&)>& on_progress, const std::atomic<bool>* cancel) {
  req.validate();
  if (!req.seed) fail(ErrorCode::Internal, "request", "seed not resolved");
  if (req.model.empty()) fail(ErrorCode::InvalidArgument, "model", "no model given (-m FILE|FOLDER)");
  auto& s = *s_;
  const auto device = pick_device(req.device);
  const auto dtype = pick_dtype(req.dtype, device);
  const std::string key = req.model + "\n" + req.vae + "\n" + req.prediction + "\n" + device.str() + "\n" +
                          std::to_string(static_cast<int>(dtype));
  if (key != s.key) {
    s.key.clear();
    s.unet.reset();
    s.vae.reset();
    s.text.reset();
    s.controlnets.clear();
    models::ModelFilesOptions opt;
    opt.vae_path = req.vae;
    opt.prediction_type = req.prediction;
    {
      const auto files = models::ModelFiles::open(req.model, opt);
      s.unet = files.load_unet(dtype, device);
      s.vae = files.load_vae(dtype, device);
      s.text = files.load_text_encoder(dtype, device);
      s.info = State::ModelInfo{files.family(), files.default_clip_skip(), files.scheduler_config(),
                                files.prediction_type(), files.tokenizer_dir(), files.summary()};
    }
    s.device = device;
    s.dtype = dtype;
    s.key = key;
    s.vocab_key.clear();
  }
  const std::string vocab_key = req.vocab + "\n" + req.model + "\n" + req.text_cleanup;
  if (vocab_key != s.vocab_key) {
    s.tokenizer = open_tokenizer(req, s.info.tokenizer_dir, s.tokenizer_from_folder);
    s.vocab_key = vocab_key;
  }
  if (s.tokenizer->vocab_size() > static_cast<std::size_t>(s.text->config().vocab_size))
    fail(ErrorCode::ModelMismatch, req.model,
         "the tokenizer has " + std::to_string(s.tokenizer->vocab_size()) + " tokens but the text encoder only " +
             std::to_string(s.text->config().vocab_size));

  // ControlNets: loaded once per path and kept; the base model stays.
  std::vector<ControlUnit> units;
  for (std::size_t i = 0; i < req.controls.size(); ++i) {
    const auto& c = req.controls[i];
    auto& net = s.controlnets[c.model + (c.global_pool ? "\npool" : "")];
    if (!net) net = control::load_controlnet(c.model, *s.unet, dtype, device, c.global_pool);
    // Its residuals must fit the base UNet's skips and its context the text encoder's.
    const auto& cu = net->config().unet;
    const auto& bu = s.unet->config();
    if (cu.context_dim != bu.context_dim || cu.model_channels != bu.model_channels ||
        cu.channel_mult != bu.channel_mult || cu.num_res_blocks != bu.num_res_blocks)
      fail(ErrorCode::ModelMismatch, c.model,
           "this ControlNet does not fit the base model (text context " + std::to_string(cu.context_dim) + " vs " +
               std::to_string(bu.context_dim) + ", channels " + std::to_string(cu.model_channels) + " vs " +
               std::to_string(bu.model_channels) + "): an SD 1.x ControlNet needs an SD 1.x model, SD 2.x an SD 2.x");
    ControlUnit u;
    u.net = net.get();
    u.image = control::prepare_control_image(c.image, c.preprocess, c.resize, req.width, req.height);
    u.scale = c.scale;
    u.start = c.start;
    u.end = c.end;
    units.push_back(u);
  }

  std::ostringstream sum;
  sum << s.info.summary << "device " << device.str() << ", dtype " << c10::toString(dtype);
  s.summary = sum.str();

  TextEncoder enc;
  enc.tokenizer = s.tokenizer.get();
  enc.model = s.text.get();
  // A tokenizer folder names its pad token (diffusers pads with it); the bare CLIP vocabulary
  // does not, so the family decides: SD 1.x pads with <|endoftext|>, SD 2.x (OpenCLIP) with 0.
  enc.padding = s.tokenizer_from_folder ? s.tokenizer->default_padding()
                : s.info.family == models::ModelFamily::SD2 ? text::ClipPadding::Zero
                                                            : text::ClipPadding::EndToken;
  enc.emphasis = req.prompt_syntax == "a1111";
  enc.skip = req.clip_skip > 0 ? req.clip_skip - 1 : s.info.clip_skip;
  at::Tensor neg, pos;
  {
    c10::InferenceMode inference;
    std::tie(neg, pos) = encode_prompts(enc, req.prompt, req.negative_prompt);
  }

  DenoiseRequest d;
  d.width = req.width;
  d.height = req.height;
  d.batch_size = req.batch_size;
  d.cfg_scale = req.cfg_scale;
  d.sampler = req.sampler;
  d.steps = req.steps;
  if (!s.info.scheduler_config.is_null()) d.scheduler = SchedulerConfig::from_json(s.info.scheduler_config, req.model);
  // As diffusers' Stable Diffusion pipelines do when they load a folder: an old scheduler
  // config with steps_offset != 1 or clip_sample on is corrected (SD never used either).
  d.scheduler.steps_offset = 1;
  d.scheduler.clip_sample = false;
  d.scheduler.prediction_type =
      s.info.prediction == "v_prediction" ? Prediction::VPrediction : Prediction::Epsilon;
  d.scheduler.use_karras_sigmas = req.scheduler == "karras";
  d.scheduler.eta = req.eta;
  d.controls = units;
  d.guess_mode = req.guess_mode;
  d.control_mode = req.control_mode == "prompt"    ? ControlMode::PromptImportant
                   : req.control_mode == "control" ? ControlMode::ControlImportant
                                                   : ControlMode::Balanced;
  Models m{s.unet.get(), s.vae.get(), dtype, device};

  auto request_json = req.to_json();
  for (int batch = 0; batch < req.batch_count; ++batch) {
    d.seed = *req.seed + static_cast<std::uint64_t>(batch) * static_cast<std::uint64_t>(req.batch_size);
    const auto t0 = std::chrono::steady_clock::now();
    at::Tensor images;
    {
      c10::InferenceMode inference;
      auto latents = denoise(m, d, neg, pos,
                             [&](const StepInfo& info, const at::Tensor&) {
                               if (!on_progress) return;
                               Progress p;
                               p.batch = batch;
                               p.batches = req.batch_count;
                               p.step = info.step;
                               p.steps = info.total;
                               p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                               on_progress(p);
                             },
                             cancel);
      images = decode(m, latents).permute({0, 2, 3, 1}).contiguous().to(at::kCPU, at::kFloat);
    }
    for (int k = 0; k < req.batch_size; ++k) {
      GeneratedImage out;
      out.seed = d.seed + static_cast<std::uint64_t>(k);
      out.batch = batch;
      out.index_in_batch = k;
      out.index = batch * req.batch_size + k;
      auto hwc = images[k].contiguous();
      out.image = image_from_float_rgb(hwc.data_ptr<float>(), req.width, req.height);
      out.text["parameters"] = req.a1111_parameters(out.seed, k);
      auto j = request_json;
      j["seed"] = out.seed;  // re-running this image alone gives this image
      j["batch_size"] = 1;
      j["batch_count"] = 1;
      out.text["gen"] = j.dump();
      on_image(out);
    }
  }
}

}  // namespace gen::pipeline
