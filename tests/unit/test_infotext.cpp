// A1111 metadata both ways, against A1111's and the ControlNet extension's own parsing code
// (tools/a1111_infotext_reference.py ran them on tests/data/infotext/corpus.json):
// parse_a1111_parameters and the unit parse must give what they give, and the texts gen
// writes must parse (by those rules) into the values gen meant, units re-serialized by the
// extension unchanged.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <unistd.h>

#include "gen/error.hpp"
#include "gen/metadata.hpp"
#include "request/a1111_names.hpp"
#include "request/infotext_parse.hpp"
#include "request/request.hpp"

namespace {

namespace fs = std::filesystem;

nlohmann::json load(const char* name) {
  std::ifstream in(std::string(GEN_TEST_DATA_DIR) + "/infotext/" + name);
  return nlohmann::json::parse(in);
}

std::string corpus_text(const std::string& name) {
  for (const auto& c : load("corpus.json"))
    if (c["name"] == name) return c["text"];
  ADD_FAILURE() << "no corpus case " << name;
  return "";
}

const nlohmann::json& expected_case(const std::string& name) {
  static const nlohmann::json all = load("expected.json");
  for (const auto& c : all)
    if (c["name"] == name) return c;
  static const nlohmann::json none;
  ADD_FAILURE() << "no expected case " << name;
  return none;
}

// A parsed unit value as Python's str() writes it, with its kind.
std::pair<std::string, std::string> py_text(const gen::request::PyValue& v) {
  using K = gen::request::PyValue::Kind;
  switch (v.kind) {
    case K::Bool: return {"bool", v.flag ? "True" : "False"};
    case K::Int: return {"int", std::to_string(v.integer)};
    case K::Float: return {"float", gen::request::python_float(v.number)};
    case K::Text: return {"str", v.text};
  }
  return {};
}

// gen's parse of `text` against A1111's (fields and ControlNet units).
void expect_parse_as_a1111(const std::string& name, const std::string& text) {
  const auto& want = expected_case(name);
  const auto got = gen::parse_a1111_parameters(text);
  std::vector<std::pair<std::string, std::string>> want_fields;
  for (const auto& kv : want["fields"]) want_fields.emplace_back(kv[0], kv[1]);
  EXPECT_EQ(got, want_fields) << name;
  for (const auto& [key, units] : want["units"].items()) {
    std::string value;
    for (const auto& [k, v] : got)
      if (k == key) value = v;
    const auto unit = gen::request::parse_controlnet_unit(value);
    if (units.is_null()) {
      EXPECT_FALSE(unit.has_value()) << name << " " << key;
      continue;
    }
    ASSERT_TRUE(unit.has_value()) << name << " " << key;
    ASSERT_EQ(unit->size(), units.size()) << name << " " << key;
    for (std::size_t i = 0; i < units.size(); ++i) {
      EXPECT_EQ((*unit)[i].first, units[i][0]) << name << " " << key;
      EXPECT_EQ(py_text((*unit)[i].second), std::make_pair(units[i][1].get<std::string>(), units[i][2].get<std::string>()))
          << name << " " << key << " " << (*unit)[i].first;
    }
  }
}

}  // namespace

TEST(Infotext, ParsesTheCorpusAsA1111Does) {
  int n = 0;
  for (const auto& c : load("corpus.json")) {
    expect_parse_as_a1111(c["name"], c["text"]);
    ++n;
  }
  EXPECT_GE(n, 20);
}

// Requests whose texts are in the corpus (gen_*): gen's writer must still write exactly those
// texts, whose A1111 parse the fixture holds.
std::vector<std::pair<std::string, std::pair<gen::Request, gen::request::InfotextExtras>>> written_cases() {
  std::vector<std::pair<std::string, std::pair<gen::Request, gen::request::InfotextExtras>>> out;
  gen::Request r;
  gen::request::InfotextExtras x;
  r.prompt = "a red fox, snow, (detailed:1.2)";
  r.negative_prompt = "blurry, lowres";
  r.sampler = gen::Sampler::EulerA;
  r.cfg_scale = 7.5;
  r.width = 512;
  r.height = 768;
  r.clip_skip = 2;
  r.model = "models/my-model.safetensors";
  r.vae = "/abs/vae/vae-ft-mse-840000-ema-pruned.safetensors";
  x.model_hash = "0123456789";
  x.vae_hash = "abcdef0123";
  x.lora_hashes = "detail: 7c6bad76eb54";
  out.push_back({"gen_txt2img", {r, x}});
  r = gen::Request();
  x = {};
  r.prompt = "multi\nline prompt";
  r.sampler = gen::Sampler::Ddim;
  r.eta = 0.5;
  r.steps = 12;
  r.model = "models/sd15-diffusers/";
  out.push_back({"gen_ddim_folder", {r, x}});
  r = gen::Request();
  x = {};
  r.prompt = "a dancer";
  r.sampler = gen::Sampler::DpmPP2M;
  r.scheduler = gen::Schedule::Karras;
  r.model = "sd15.safetensors";
  x.model_hash = "6ce0161689";
  r.controls.resize(3);
  r.controls[0].model = "/cn/control_v11p_sd15_canny.safetensors";
  r.controls[0].preprocess = "canny:100:200";
  r.controls[0].scale = 0.8;
  r.controls[0].start = 0.1;
  r.controls[0].end = 0.9;
  r.controls[0].resize = gen::ResizeMode::Crop;
  r.controls[1].model = "cn/control_v11p_sd15_openpose.pth";
  r.controls[1].preprocess = "openpose_full";
  r.controls[1].preprocess_resolution = 768;
  r.controls[2].model = "cn/control_v11p_sd15_lineart";
  r.controls[2].preprocess = "invert";
  r.controls[2].resize = gen::ResizeMode::Fill;
  r.control_mode = gen::ControlMode::Prompt;
  x.control_hashes = {"d14c016b", "cab727d4", ""};
  out.push_back({"gen_controlnet", {r, x}});
  r = gen::Request();
  x = {};
  r.prompt = "portrait";
  r.hires_scale = 2;
  r.hires_upscaler = gen::HiresUpscaler::LatentBicubicAntialiased;
  r.hires_steps = 10;
  r.hires_strength = 0.55;
  r.model = "m.ckpt";
  out.push_back({"gen_hires", {r, x}});
  return out;
}

TEST(Infotext, WritesWhatA1111Reads) {
  for (const auto& [name, rx] : written_cases()) {
    const auto& [r, x] = rx;
    const std::string text = gen::request::a1111_parameters(r, 1234, 0, x);
    EXPECT_EQ(text, corpus_text(name)) << name << ": the writer changed; update corpus.json and run "
                                        << "tools/a1111_infotext_reference.py. Written:\n" << text;
    expect_parse_as_a1111(name, text);
    // The extension's serialize of its own parse gives the unit back (Python's value texts).
    for (const auto& [key, unit_text] : expected_case(name)["reserialized"].items()) {
      const auto fields = gen::parse_a1111_parameters(text);
      for (const auto& [k, v] : fields)
        if (k == key) {
          EXPECT_EQ(v, unit_text.get<std::string>()) << name << " " << key;
        }
    }
  }
}

TEST(Infotext, WrittenTextsComeBackAsTheRequest) {
  for (const auto& [name, rx] : written_cases()) {
    const auto& [r, x] = rx;
    const auto imp = gen::request_from_a1111(gen::request::a1111_parameters(r, 1234, 0, x));
    EXPECT_EQ(imp.request.prompt, r.prompt) << name;
    EXPECT_EQ(imp.request.negative_prompt, r.negative_prompt) << name;
    EXPECT_EQ(imp.request.steps, r.steps) << name;
    EXPECT_EQ(imp.request.sampler, r.sampler) << name;
    EXPECT_EQ(imp.request.cfg_scale, r.cfg_scale) << name;
    EXPECT_EQ(imp.request.seed, std::optional<std::uint64_t>(1234)) << name;
    EXPECT_EQ(imp.request.width, r.width) << name;
    EXPECT_EQ(imp.request.height, r.height) << name;
    EXPECT_EQ(imp.request.eta, r.sampler == gen::Sampler::Ddim ? r.eta : 0.0) << name;
    EXPECT_EQ(imp.request.hires_scale, r.hires_scale) << name;
    EXPECT_EQ(imp.request.hires_upscaler, r.hires_upscaler) << name;
    EXPECT_EQ(imp.request.control_mode, r.control_mode) << name;
    EXPECT_TRUE(imp.unknown.empty()) << name << ": " << imp.unknown.front();
    ASSERT_EQ(imp.request.controls.size(), r.controls.size()) << name;
    for (std::size_t i = 0; i < r.controls.size(); ++i) {
      EXPECT_EQ(imp.request.controls[i].preprocess, r.controls[i].preprocess) << name << " " << i;
      EXPECT_EQ(imp.request.controls[i].scale, r.controls[i].scale) << name << " " << i;
      EXPECT_EQ(imp.request.controls[i].start, r.controls[i].start) << name << " " << i;
      EXPECT_EQ(imp.request.controls[i].end, r.controls[i].end) << name << " " << i;
      EXPECT_EQ(imp.request.controls[i].resize, r.controls[i].resize) << name << " " << i;
      EXPECT_EQ(imp.request.controls[i].preprocess_resolution, r.controls[i].preprocess_resolution) << name << " " << i;
    }
    // No folder to look files up in: the model (and each control's model and image) are problems.
    bool model_problem = false;
    for (const auto& [field, message] : imp.problems) model_problem = model_problem || field == "model";
    EXPECT_TRUE(model_problem) << name;
  }
}

TEST(Infotext, ReadsA1111Texts) {
  auto imp = gen::request_from_a1111(corpus_text("a1111_karras_old"));
  EXPECT_EQ(imp.request.sampler, gen::Sampler::DpmPP2M);
  EXPECT_EQ(imp.request.scheduler, gen::Schedule::Karras);
  EXPECT_EQ(imp.request.clip_skip, 2);
  EXPECT_EQ(imp.request.width, 640);
  EXPECT_EQ(imp.request.height, 448);
  EXPECT_EQ(imp.unknown, std::vector<std::string>{"ENSD"});
  ASSERT_FALSE(imp.notes.empty());  // GPU noise (no RNG key)
  EXPECT_NE(imp.notes[0].find("GPU"), std::string::npos);
  imp = gen::request_from_a1111(corpus_text("a1111_schedule_type"));
  EXPECT_EQ(imp.request.sampler, gen::Sampler::DpmPP2M);
  EXPECT_EQ(imp.request.scheduler, gen::Schedule::Karras);
  EXPECT_TRUE(imp.notes.empty());  // RNG: CPU
  imp = gen::request_from_a1111(corpus_text("a1111_hires"));
  EXPECT_EQ(imp.request.hires_scale, 2);
  EXPECT_EQ(imp.request.hires_steps, 10);
  EXPECT_EQ(imp.request.hires_strength, 0.55);
  EXPECT_EQ(imp.request.hires_upscaler, gen::HiresUpscaler::LatentBicubicAntialiased);
  bool sampler_problem = false;  // DPM++ SDE Karras: not a gen sampler
  for (const auto& [field, message] : imp.problems)
    if (field == "sampler") sampler_problem = message.find("DPM++ SDE Karras") != std::string::npos;
  EXPECT_TRUE(sampler_problem);
  imp = gen::request_from_a1111(corpus_text("a1111_whitespace"));
  EXPECT_EQ(imp.request.steps, 20);  // "20 ": as A1111's int() reads it
  EXPECT_EQ(imp.request.cfg_scale, 7);
  imp = gen::request_from_a1111(corpus_text("a1111_controlnet"));
  ASSERT_EQ(imp.request.controls.size(), 2u);
  EXPECT_EQ(imp.request.controls[0].preprocess, "canny:100:200");
  EXPECT_EQ(imp.request.controls[0].resize, gen::ResizeMode::Crop);
  EXPECT_EQ(imp.request.controls[1].preprocess, "openpose_full");
  EXPECT_EQ(imp.request.controls[1].scale, 0.8);
  EXPECT_EQ(imp.request.controls[1].preprocess_resolution, 768);
  std::set<std::string> fields;
  for (const auto& [field, message] : imp.problems) fields.insert(field);
  EXPECT_TRUE(fields.count("controls[0].model") && fields.count("controls[0].image") && fields.count("model"));
  imp = gen::request_from_a1111(corpus_text("a1111_unknown_keys"));
  EXPECT_EQ(imp.unknown, (std::vector<std::string>{"Variation seed", "Variation seed strength", "Face restoration",
                                                    "Token merging ratio", "Emphasis", "NGMS"}));
  EXPECT_EQ(imp.request.width, 640);  // a repeated key: its last value
}

TEST(Infotext, FindsFilesByNameAndHash) {
  const fs::path dir = fs::temp_directory_path() / ("gen_infotext_" + std::to_string(::getpid()));
  fs::create_directories(dir / "sub");
  fs::create_directories(dir / "sd15-folder");
  {
    std::ofstream(dir / "sub" / "my-model.safetensors") << "checkpoint bytes";
    std::ofstream(dir / "control_v11p_sd15_canny.pth") << "controlnet bytes";
  }
  const std::string hash = gen::request::a1111_short_hash((dir / "sub" / "my-model.safetensors").string());
  EXPECT_EQ(hash.size(), 10u);
  gen::A1111Lookup lookup{{dir.string()}, {dir.string()}};
  auto imp = gen::request_from_a1111("p\nSteps: 5, Seed: 1, Size: 64x64, Model hash: " + hash +
                                         ", Model: my-model, ControlNet 0: \"Module: none, Model: control_v11p_sd15_canny [" +
                                         gen::request::a1111_old_model_hash((dir / "control_v11p_sd15_canny.pth").string()) +
                                         "], Weight: 1.0\"",
                                     lookup);
  EXPECT_EQ(imp.request.model, (dir / "sub" / "my-model.safetensors").string());
  ASSERT_EQ(imp.request.controls.size(), 1u);
  EXPECT_EQ(imp.request.controls[0].model, (dir / "control_v11p_sd15_canny.pth").string());
  ASSERT_EQ(imp.problems.size(), 1u);  // only the control image, which A1111 does not store
  EXPECT_EQ(imp.problems[0].first, "controls[0].image");
  imp = gen::request_from_a1111("p\nSteps: 5, Seed: 1, Size: 64x64, Model: sd15-folder", lookup);
  EXPECT_EQ(imp.request.model, (dir / "sd15-folder").string());
  EXPECT_TRUE(imp.problems.empty());
  imp = gen::request_from_a1111("p\nSteps: 5, Seed: 1, Size: 64x64, Model: absent", lookup);
  ASSERT_EQ(imp.problems.size(), 1u);
  EXPECT_NE(imp.problems[0].second.find("no checkpoint named 'absent'"), std::string::npos) << imp.problems[0].second;
  fs::remove_all(dir);
}

TEST(Infotext, HashesAsA1111) {
  // A1111's short hash (hashes.calculate_sha256, 10 hex digits) and old model hash (the
  // ControlNet extension's "[hash]"), from its own functions on these files (hashes.json).
  const fs::path dir = fs::temp_directory_path() / ("gen_infotext_hash_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  int n = 0;
  for (const auto& h : load("hashes.json")) {
    const std::size_t size = h["size"];
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + 7) % 256);
    const auto path = (dir / ("f" + std::to_string(size) + ".bin")).string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(size));
    EXPECT_EQ(gen::request::a1111_short_hash(path), h["short"].get<std::string>()) << size;
    EXPECT_EQ(gen::request::a1111_old_model_hash(path), h["old"].get<std::string>()) << size;
    ++n;
  }
  EXPECT_EQ(n, 4);
  EXPECT_EQ(gen::request::a1111_short_hash(dir.string()), "");  // a folder has none
  fs::remove_all(dir);
}

TEST(Infotext, MetadataModes) {
  gen::Request r;
  r.model = "/models/sd15.safetensors";
  r.vae = "vae/x.safetensors";  // relative to the current folder
  r.loras.push_back({"detail", 0.5, std::nullopt});  // a name stays a name
  const std::map<std::string, std::string> meta = {{"parameters", "p"}, {"gen", r.to_json()}};
  EXPECT_TRUE(gen::file_metadata(meta, "out/a.png", gen::MetadataMode::None).empty());
  const auto cwd = fs::current_path();
  const auto portable = gen::Request::from_json(gen::file_metadata(meta, "out/a.png", gen::MetadataMode::Portable).at("gen"));
  EXPECT_EQ(portable.vae, "../vae/x.safetensors");
  EXPECT_EQ(portable.model, fs::path("/models/sd15.safetensors").lexically_relative(cwd / "out").string());
  EXPECT_NE(portable.model[0], '/');
  EXPECT_EQ(portable.loras[0].file, "detail");
  const auto full = gen::Request::from_json(gen::file_metadata(meta, "out/a.png", gen::MetadataMode::Full).at("gen"));
  EXPECT_EQ(full.model, "/models/sd15.safetensors");
  EXPECT_EQ(full.vae, (cwd / "vae/x.safetensors").string());
  EXPECT_EQ(full.loras[0].file, "detail");
  EXPECT_EQ(gen::file_metadata(meta, "out/a.png", gen::MetadataMode::Full).at("parameters"), "p");
  EXPECT_EQ(gen::metadata_mode_from_name("full"), gen::MetadataMode::Full);
  EXPECT_THROW(gen::metadata_mode_from_name("all"), gen::Error);
  // The A1111 text names files, never their folders.
  const auto text = gen::a1111_parameters(full, 1, 0);
  EXPECT_EQ(text.find('/'), std::string::npos) << text;
}

TEST(Infotext, PythonFloatText) {
  using gen::request::python_float;
  EXPECT_EQ(python_float(1.0), "1.0");
  EXPECT_EQ(python_float(0.1), "0.1");
  EXPECT_EQ(python_float(100), "100.0");
  EXPECT_EQ(python_float(1e-5), "1e-05");
  EXPECT_EQ(python_float(123456.0), "123456.0");
  EXPECT_EQ(python_float(1e16), "1e+16");
  EXPECT_EQ(python_float(-0.25), "-0.25");
  EXPECT_EQ(python_float(0.0001), "0.0001");
}
