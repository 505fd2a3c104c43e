// The request tables (gen/request.hpp): every row is a struct member, a JSON key, a
// checked value, a settable text, an A1111 key where it has one — all from one row.
#include <gtest/gtest.h>

#include <array>

#include "request/request.hpp"

#include <nlohmann/json.hpp>

#include <set>

#include "gen/error.hpp"
#include "gen/metadata.hpp"
#include "gen/request.hpp"

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), gen::ErrorCode::InvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

}  // namespace

TEST(RequestFields, EveryRowIsAJsonKeyWithItsDefault) {
  const gen::Request r;
  const auto j = nlohmann::json::parse(r.to_json());
  std::set<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.insert(it.key());
  std::set<std::string> rows{"schema", "controls", "loras", "embeddings"};
  for (const auto& f : gen::request_fields()) {
    rows.insert(f.name);
    EXPECT_EQ(gen::field_text(r, f.name), f.default_text) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  EXPECT_EQ(keys, rows);
  gen::Request c;
  c.controls.emplace_back();
  const auto cj = nlohmann::json::parse(c.to_json())["controls"][0];
  EXPECT_EQ(cj.size(), gen::control_fields().size());
  for (const auto& f : gen::control_fields()) {
    EXPECT_TRUE(cj.contains(f.name)) << f.name;
    EXPECT_EQ(gen::field_text(c.controls[0], f.name), f.default_text) << f.name;
  }
}

TEST(RequestFields, EveryValueSetAsTextRoundTripsThroughJson) {
  gen::Request r;
  for (const auto& f : gen::request_fields()) {
    std::string v;
    switch (f.type) {
      case gen::FieldInfo::Type::Text: v = "some " + f.name; break;
      case gen::FieldInfo::Type::Integer: v = std::to_string(static_cast<int>(f.min == f.max ? 3 : f.max)); break;
      case gen::FieldInfo::Type::Number: v = f.min == f.max ? "0.25" : std::to_string(f.max); break;
      case gen::FieldInfo::Type::Flag: v = "true"; break;
      case gen::FieldInfo::Type::Choice: v = f.choices.back(); break;
      case gen::FieldInfo::Type::Seed: v = "18446744073709551615"; break;
    }
    gen::set_field(r, f.name, v);
  }
  // Fields that exclude each other (below) are left at their defaults here and round-tripped
  // on their own in EditingValuesRoundTripOnTheirOwn.
  r.mask_from_alpha = false;
  r.outpaint.clear();
  r.outpaint_fill = "edge";
  r.hires_scale = 0;
  r.hires_width = r.hires_height = 0;
  r.hires_sampler.clear();
  r.refiner_switch = 0.5;  // inside (0, 1), both ends excluded
  // SDXL's micro-conditioning fields have a form (WIDTHxHEIGHT, TOP,LEFT).
  r.original_size = "1024x768";
  r.crop = "16,0";
  r.target_size = "640x512";
  r.negative_original_size = "512x512";
  r.negative_crop = "0,8";
  r.negative_target_size = "1024x1024";
  r.validate();
  const auto back = gen::Request::from_json(r.to_json());
  for (const auto& f : gen::request_fields()) EXPECT_EQ(gen::field_text(back, f.name), gen::field_text(r, f.name)) << f.name;
}

TEST(RequestFields, SdxlTimeIdsAsDiffusersOrdersThem) {
  gen::Request r;
  r.width = 80;
  r.height = 64;
  EXPECT_EQ(gen::request::sdxl_time_ids(r, false), (std::array<double, 6>{64, 80, 0, 0, 64, 80}));
  r.original_size = "1024x768";
  r.crop = "16,32";
  r.negative_target_size = "512x256";
  EXPECT_EQ(gen::request::sdxl_time_ids(r, false), (std::array<double, 6>{768, 1024, 16, 32, 64, 80}));
  EXPECT_EQ(gen::request::sdxl_time_ids(r, true), (std::array<double, 6>{768, 1024, 16, 32, 256, 512}));
  for (const char* bad : {"0x5", "5x", "x5", "5x16385", "-1x5", "5 x5", "5x5x5"}) {
    r.original_size = bad;
    EXPECT_THROW(r.validate(), gen::Error) << bad;
  }
  r.original_size.clear();
  r.negative_crop = "1,16385";
  EXPECT_THROW(r.validate(), gen::Error);
}

TEST(RequestFields, EditingValuesRoundTripOnTheirOwn) {
  auto round_trip = [](const gen::Request& r) {
    r.validate();
    const auto back = gen::Request::from_json(r.to_json());
    for (const auto& f : gen::request_fields()) EXPECT_EQ(gen::field_text(back, f.name), gen::field_text(r, f.name)) << f.name;
  };
  gen::Request out;
  out.init_image = "i.png";
  out.outpaint = "left:8,bottom:16";
  out.outpaint_fill = "#102030";
  round_trip(out);
  gen::Request alpha;
  alpha.init_image = "i.png";
  alpha.mask_from_alpha = true;
  round_trip(alpha);
  gen::Request hires;
  hires.hires_scale = 1.5;
  hires.hires_sampler = "euler_a";
  round_trip(hires);
  hires.hires_scale = 0;
  hires.hires_width = 1024;
  hires.hires_height = 768;
  round_trip(hires);
}

TEST(RequestFields, EmbeddingFilesRoundTripAndBadOnesAreRefused) {
  gen::Request r;
  r.embeddings = {"a/ticat.pt", "b/learned_embeds.safetensors"};
  r.embeddings_dir = "embeddings";
  const auto back = gen::Request::from_json(r.to_json());
  EXPECT_EQ(back.embeddings, r.embeddings);
  EXPECT_EQ(back.embeddings_dir, "embeddings");
  EXPECT_NE(error_of([] { gen::Request::from_json(R"({"embeddings": "x.pt"})"); }).find("must be an array"),
            std::string::npos);
  EXPECT_NE(error_of([] { gen::Request::from_json(R"({"embeddings": [3]})"); }).find("embeddings[0]: must be a file name"),
            std::string::npos);
  r.embeddings.push_back("");
  EXPECT_NE(error_of([&] { r.validate(); }).find("embeddings[2]: is empty"), std::string::npos);
}

TEST(RequestFields, EditingFieldsThatExcludeOrNeedEachOtherAreRefused) {
  gen::Request r;
  r.mask = "m.png";
  EXPECT_NE(error_of([&] { r.validate(); }).find("mask: inpainting needs an init image"), std::string::npos);
  r.init_image = "i.png";
  r.validate();
  r.mask_from_alpha = true;
  EXPECT_NE(error_of([&] { r.validate(); }).find("not both"), std::string::npos);
  r.mask.clear();
  r.validate();
  r.strength = 0;
  EXPECT_NE(error_of([&] { r.validate(); }).find("strength: must be above 0"), std::string::npos);
  r.strength = 1.01;
  EXPECT_NE(error_of([&] { r.validate(); }).find("strength: must be between 0 and 1"), std::string::npos);
  // A request of schema 1 (before editing) is still read.
  EXPECT_EQ(gen::Request::from_json(R"({"schema": "gen.request/1", "prompt": "x"})").prompt, "x");
  // … and of 1.2 (before SDXL's 1.3 fields, which take their defaults); gen writes 1.3.
  const auto old = gen::Request::from_json(R"({"schema": "gen.request/1.2", "prompt": "y", "original_size": "1024x768"})");
  EXPECT_EQ(old.prompt, "y");
  EXPECT_EQ(old.original_size, "1024x768");
  EXPECT_EQ(old.refiner, "");
  EXPECT_EQ(nlohmann::json::parse(old.to_json())["schema"], "gen.request/1.3");
  try {
    gen::Request::from_json(R"({"schema": "gen.request/2"})");
    ADD_FAILURE() << "schema 2 read";
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), gen::ErrorCode::Unsupported);
  }
}

TEST(RequestFields, RangesMultiplesAndChoicesAreCheckedNamingTheField) {
  for (const auto& f : gen::request_fields()) {
    gen::Request r;
    if (f.type == gen::FieldInfo::Type::Integer && f.min != f.max) {
      gen::set_field(r, f.name, std::to_string(static_cast<long long>(f.min) - 1));
      const auto e = error_of([&] { r.validate(); });
      EXPECT_NE(e.find(f.name + ": must be between"), std::string::npos) << e;
    } else if (f.type == gen::FieldInfo::Type::Number && f.min != f.max) {
      gen::set_field(r, f.name, "1e9");
      EXPECT_NE(error_of([&] { r.validate(); }).find(f.name), std::string::npos);
    } else if (f.type == gen::FieldInfo::Type::Choice) {
      const auto e = error_of([&] { gen::set_field(r, f.name, "nope"); });
      EXPECT_NE(e.find(f.name + ": unknown"), std::string::npos) << e;
    }
    if (f.multiple > 1) {
      gen::set_field(r, f.name, std::to_string(static_cast<int>(f.min) + 1));
      EXPECT_NE(error_of([&] { r.validate(); }).find("not a multiple of"), std::string::npos);
    }
  }
  gen::Request r;
  EXPECT_NE(error_of([&] { gen::set_field(r, "width", "abc", "--width"); }).find("--width: 'abc' is not a valid number"),
            std::string::npos);
  EXPECT_NE(error_of([&] { gen::set_field(r, "no_such_field", "1"); }).find("no such request field"), std::string::npos);
  EXPECT_NE(error_of([] { gen::Request::from_json(R"({"width": "512"})", "job"); }).find("wrong type"), std::string::npos);
  EXPECT_NE(error_of([] { gen::Request::from_json(R"({"colour": 1})", "job"); }).find("unknown field 'colour'"),
            std::string::npos);
}

TEST(RequestFields, SeedMinusOneIsRandomOtherNegativesAreRefused) {
  gen::Request r;
  r.seed = 5;
  gen::set_field(r, "seed", "-1");
  EXPECT_FALSE(r.seed.has_value());
  gen::set_field(r, "seed", "42");
  EXPECT_EQ(r.seed, 42u);
  EXPECT_NE(error_of([&] { gen::set_field(r, "seed", "-2"); }).find("not a seed"), std::string::npos);
  EXPECT_NE(error_of([&] { gen::set_field(r, "seed", "18446744073709551616"); }).find("not a seed"), std::string::npos);
}

TEST(RequestFields, AStoredOutputIsReadAndIgnored) {
  // gen 0.1 stored "output" in its PNGs; a request never says where to write.
  const auto r = gen::Request::from_json(R"({"prompt": "x", "output": "/etc/passwd"})");
  EXPECT_EQ(r.prompt, "x");
  EXPECT_EQ(nlohmann::json::parse(r.to_json()).count("output"), 0u);
}

TEST(RequestFields, InfotextKeysComeFromTheTable) {
  gen::Request r;
  r.prompt = "a cat";
  r.negative_prompt = "dog";
  r.sampler = gen::Sampler::DpmPP2M;
  r.scheduler = gen::Schedule::Karras;
  r.batch_size = 2;
  r.clip_skip = 2;
  r.controls.emplace_back();
  r.controls[0].model = "c.safetensors";
  r.controls[0].scale = 0.5;
  const auto text = gen::a1111_parameters(r, 7, 1);
  EXPECT_EQ(text.substr(0, text.find("ControlNet")),
            "a cat\nNegative prompt: dog\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 7, Size: 512x512, "
            "Batch size: 2, Batch pos: 1, Clip skip: 2, RNG: CPU, ");
  // UniControl Task only for a group that has one (a UniControl, docs/unicontrol.md), and only
  // a single task: the extension's unit text holds no ':' or ',' (a mix stays in the gen JSON).
  EXPECT_EQ(text.find("UniControl Task"), std::string::npos);
  r.controls[0].task = "canny:0.6,depth:0.4";
  EXPECT_EQ(gen::a1111_parameters(r, 7, 1).find("UniControl Task"), std::string::npos);
  r.controls[0].task = "canny";
  const auto uni = gen::a1111_parameters(r, 7, 1);
  EXPECT_NE(uni.find(", UniControl Task: canny\""), std::string::npos) << uni;
  for (const auto& f : gen::control_fields())
    if (!f.infotext.empty()) EXPECT_NE(uni.find(f.infotext + ": "), std::string::npos) << f.infotext;
  EXPECT_NE(text.find("Weight: 0.5"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 14), ", Version: gen");
}

TEST(RequestFields, UnionConditionsRoundTripAreCheckedAndWrittenAsInfotext) {
  // A ControlNet Union group: its own type and image, then further conditions (docs/controlnet.md).
  gen::Request r;
  r.controls.emplace_back();
  auto& c = r.controls[0];
  c.model = "union.safetensors";
  c.type = "openpose";
  c.image = "pose.png";
  c.conditions.emplace_back();
  c.conditions[0].type = "canny";
  c.conditions[0].image = "photo.png";
  c.conditions[0].preprocess = "canny:100:200";
  r.validate();
  const auto j = nlohmann::json::parse(r.to_json());
  EXPECT_EQ(j["controls"][0]["type"], "openpose");
  EXPECT_EQ(j["controls"][0]["conditions"][0].size(), 4u);  // type, image, preprocess, preprocess_resolution
  const auto back = gen::Request::from_json(r.to_json());
  ASSERT_EQ(back.controls.size(), 1u);
  ASSERT_EQ(back.controls[0].conditions.size(), 1u);
  EXPECT_EQ(back.controls[0].conditions[0].type, "canny");
  EXPECT_EQ(back.controls[0].conditions[0].image, "photo.png");
  EXPECT_EQ(back.controls[0].conditions[0].preprocess, "canny:100:200");
  EXPECT_EQ(back.to_json(), r.to_json());
  // A group without conditions writes no "conditions" key (files as before).
  gen::Request plain;
  plain.controls.emplace_back();
  EXPECT_FALSE(nlohmann::json::parse(plain.to_json())["controls"][0].contains("conditions"));
  // The A1111 text: the types joined by '+'.
  const auto text = gen::a1111_parameters(r, 7, 0);
  EXPECT_NE(text.find(", Union Type: openpose+canny\""), std::string::npos) << text;
  // Refused, naming the field: a condition without a type or image, types without a group type,
  // a condition's own fields other than the four.
  auto refused = [](const gen::Request& q, const std::string& field) {
    try {
      q.validate();
      ADD_FAILURE() << field << " accepted";
    } catch (const gen::Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  auto no_type = r;
  no_type.controls[0].conditions[0].type.clear();
  refused(no_type, "controls[0].conditions[0].type");
  auto no_image = r;
  no_image.controls[0].conditions[0].image.clear();
  refused(no_image, "controls[0].conditions[0].image");
  auto no_group_type = r;
  no_group_type.controls[0].type.clear();
  refused(no_group_type, "controls[0].type");
  auto j2 = j;
  j2["controls"][0]["conditions"][0]["scale"] = 0.5;
  EXPECT_THROW(gen::Request::from_json(j2.dump()), gen::Error);
}
