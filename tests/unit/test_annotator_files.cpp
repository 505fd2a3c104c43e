// gen inspect knows annotator files (annotators/annotator_files.hpp, ModelKind::Annotator): the
// real names and shapes of every original release (controlnet-aux 0.0.10's classes, built on the
// meta device by tools/make_annotator_files.py --shapes), tiny .pth and .safetensors files with
// those names (--tiny), and the annotators' wrong-file messages, which use the same recognition.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "annotators/annotator_files.hpp"
#include "annotators/depth_anything.hpp"
#include "annotators/networks.hpp"
#include "gen/error.hpp"
#include "annotators/midas.hpp"
#include "annotators/normalbae.hpp"
#include "io/inspect.hpp"
#include "test_python.hpp"

namespace an = gen::annotators;
using gen::ModelKind;

namespace {

struct Expect {
  const char* kind;
  const char* variant;
  const char* prefix;
};

// What each original file is (tools/make_annotator_files.py names them as released).
const std::map<std::string, Expect>& expected() {
  static const std::map<std::string, Expect> e = {
      {"ControlNetHED", {"hed", "", ""}},
      {"table5_pidinet", {"pidinet", "", "module."}},
      {"sk_model", {"lineart", "", ""}},
      {"sk_model2", {"lineart", "", ""}},
      {"netG", {"lineart_anime", "", "module."}},
      {"body_pose_model", {"openpose_body", "raw", ""}},
      {"hand_pose_model", {"openpose_hand", "raw", ""}},
      {"facenet", {"openpose_face", "", ""}},
      {"mlsd_large_512_fp32", {"mlsd", "large", ""}},
      {"mlsd_tiny_512_fp32", {"mlsd", "tiny", ""}},
      {"depth_anything_v2_vits", {"depth_anything", "vits", ""}},
      {"depth_anything_v2_vitb", {"depth_anything", "vitb", ""}},
      {"depth_anything_v2_vitl", {"depth_anything", "vitl", ""}},
      {"dpt_hybrid-midas-501f0c75", {"midas", "dpt_hybrid", ""}},
      {"scannet", {"normalbae", "", "module."}},
  };
  return e;
}

// The original release's extension: MiDaS's and NormalBAE's files are .pt, the others .pth.
std::string pickle_ext(const std::string& stem) {
  return stem.rfind("dpt_hybrid", 0) == 0 || stem == "scannet" ? ".pt" : ".pth";
}

// The script's output, made once per test binary run.
const std::string& made() {
  static const std::string dir = [] {
    const char* env = std::getenv("GEN_TMP");
    const std::string d = std::string(env && *env ? env : GEN_BINARY_DIR "/tests/tmp") + "/annotator_files";
    std::filesystem::create_directories(d);
    const std::string python = gen::test::find_python();
    const std::string cmd = python + " " GEN_SOURCE_DIR "/tools/make_annotator_files.py --shapes '" + d +
                            "/shapes.json' --tiny '" + d + "/tiny' 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf;
    std::size_t n;
    while (p && (n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    const int rc = p ? ::pclose(p) : -1;
    if (python.empty() || rc != 0) ADD_FAILURE() << "tools/make_annotator_files.py failed: " << out;
    return d;
  }();
  return dir;
}

std::vector<gen::NamedShape> named(const nlohmann::json& j) {
  std::vector<gen::NamedShape> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back({it.key(), it.value().get<std::vector<std::int64_t>>()});
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const gen::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(AnnotatorFiles, RealNamesAndShapesOfEveryRelease) {
  std::ifstream in(made() + "/shapes.json");
  ASSERT_TRUE(in) << "no shapes.json";
  const nlohmann::json all = nlohmann::json::parse(in);
  ASSERT_EQ(all.size(), expected().size());
  for (const auto& [stem, want] : expected()) {
    SCOPED_TRACE(stem);
    const auto& j = all.at(stem + pickle_ext(stem));
    an::TensorShapes shapes;
    for (auto it = j.begin(); it != j.end(); ++it) shapes[it.key()] = it.value().get<std::vector<std::int64_t>>();
    const an::AnnotatorFile f = an::identify_annotator(shapes);
    EXPECT_EQ(f.kind, want.kind);
    EXPECT_EQ(f.variant, want.variant);
    EXPECT_EQ(f.prefix, want.prefix);
    const gen::ModelReport r = gen::classify(named(j));
    EXPECT_EQ(r.kind, ModelKind::Annotator);
    ASSERT_EQ(r.parts.size(), 1u);
    EXPECT_EQ(r.parts[0], want.kind);
    EXPECT_NE(r.summary.find(an::original_file(f)), std::string::npos) << r.summary;
    if (std::string(want.kind) == "depth_anything") {
      EXPECT_EQ(r.facts.at("width"), std::string(want.variant) == "vits" ? 384 : want.variant[3] == 'b' ? 768 : 1024);
      EXPECT_EQ(an::depth_anything_variant(shapes), want.variant);
    }
    if (std::string(want.kind) == "midas") {  // the released DPT-Hybrid's sizes, from its shapes alone
      EXPECT_EQ(r.facts.at("width"), 768);
      const an::MidasConfig c = an::infer_midas_config(shapes, stem);
      EXPECT_EQ(c.stem, 64);
      EXPECT_EQ(c.stage_blocks, (std::vector<std::int64_t>{3, 4, 9}));
      EXPECT_EQ(c.stage_width, (std::vector<std::int64_t>{256, 512, 1024}));
      EXPECT_EQ(c.embed_dim, 768);
      EXPECT_EQ(c.heads, 12);
      EXPECT_EQ(c.depth, 12);
      EXPECT_EQ(c.mlp_hidden, 3072);
      EXPECT_EQ(c.grid, 24);
      EXPECT_EQ((c.neck), (std::array<std::int64_t, 4>{256, 512, 768, 768}));
      EXPECT_EQ(c.features, 256);
      EXPECT_EQ(c.head_hidden, 32);
    }
    if (std::string(want.kind) == "normalbae") {  // the released NNET's sizes (B5 encoder), from its shapes alone
      an::TensorShapes bare;
      for (const auto& [n, shape] : shapes) bare[n.substr(7)] = shape;  // without module.
      const an::NormalBaeConfig c = an::infer_normalbae_config(bare, stem);
      EXPECT_EQ(c.stem, 48);
      std::vector<std::size_t> blocks;
      for (const auto& st : c.stages) blocks.push_back(st.size());
      EXPECT_EQ(blocks, (std::vector<std::size_t>{3, 5, 5, 7, 7, 9, 3}));
      EXPECT_EQ(c.stages[6].back().out, 512);
      EXPECT_EQ(c.stages[6].back().mid, 3072);  // 512 · 6
      EXPECT_EQ(c.stages[6].back().se, 128);
      EXPECT_EQ(c.head, 2048);
      EXPECT_EQ(c.bottleneck, 2048);
      EXPECT_EQ(c.up, (std::vector<std::int64_t>{1024, 512, 256, 128}));
    }
  }
  // The --preprocess names that read each kind come from the registry.
  EXPECT_EQ(an::preprocess_names_for("lineart"), (std::vector<std::string>{"lineart", "lineart_coarse"}));
  EXPECT_EQ(an::preprocess_names_for("hed"), (std::vector<std::string>{"hed", "unicontrol_hedsketch"}));
  EXPECT_EQ(an::preprocess_names_for("depth_anything"), (std::vector<std::string>{"depth_anything"}));
  EXPECT_EQ(an::preprocess_names_for("midas"), (std::vector<std::string>{"midas", "normal_midas"}));
  EXPECT_EQ(an::preprocess_names_for("normalbae"), (std::vector<std::string>{"normal_bae"}));
}

TEST(AnnotatorFiles, AMissingMarkerIsNoAnnotator) {
  std::ifstream in(made() + "/shapes.json");
  const nlohmann::json all = nlohmann::json::parse(in);
  for (const auto& [file, drop] : std::map<std::string, std::string>{
           {"ControlNetHED.pth", "block5.projection.weight"},
           {"table5_pidinet.pth", "module.classifier.weight"},
           {"sk_model.pth", "model2.0.conv_block.1.weight"},
           {"depth_anything_v2_vits.pth", "depth_head.scratch.output_conv1.weight"},
           {"body_pose_model.pth", "conv5_5_CPM_L1.weight"},
           {"mlsd_tiny_512_fp32.pth", "block15.conv1.0.weight"},
           {"scannet.pt", "module.decoder.out_conv_res1.0.weight"}}) {
    nlohmann::json j = all.at(file);
    ASSERT_EQ(j.erase(drop), 1u) << file << " " << drop;
    EXPECT_EQ(gen::classify(named(j)).kind, ModelKind::Unknown) << file;
  }
  // hand_pose_model and facenet share every name; 71 heatmaps make a face model.
  nlohmann::json hand = all.at("hand_pose_model.pth");
  EXPECT_EQ(hand.at("conv6_2_CPM.weight")[0], 22);
  hand["conv6_2_CPM.weight"][0] = 71;
  an::TensorShapes s;
  for (const auto& t : named(hand)) s[t.name] = t.shape;
  EXPECT_EQ(an::identify_annotator(s).kind, "openpose_face");
}

TEST(AnnotatorFiles, InspectBothFileForms) {
  const std::string dir = made() + "/tiny/";
  for (const auto& [stem, want] : expected()) {
    for (const std::string ext : {pickle_ext(stem), std::string(".safetensors")}) {
      SCOPED_TRACE(stem + ext);
      const gen::io::InspectReport r = gen::io::inspect_path(dir + stem + ext);
      EXPECT_EQ(r.format, ext != ".safetensors" ? "torch-pickle" : "safetensors");
      EXPECT_EQ(r.model.kind, ModelKind::Annotator);
      EXPECT_STREQ(gen::kind_id(r.model.kind), "annotator");
      EXPECT_STREQ(gen::layout_id(r.model.layout), "original");
      ASSERT_EQ(r.model.parts.size(), 1u);
      EXPECT_EQ(r.model.parts[0], want.kind);
      EXPECT_EQ(r.model.prefix, want.prefix);
      EXPECT_EQ(r.load.as, "annotator");
      const auto users = an::preprocess_names_for(want.kind);
      std::string notes;
      for (const auto& n : r.model.notes) notes += n + "\n";
      for (const auto& u : users) EXPECT_NE(notes.find(u), std::string::npos) << notes;
      if (ext != ".safetensors") {
        EXPECT_FALSE(r.load.ok);
        EXPECT_EQ(r.load.code, gen::ErrorCode::Unsupported);
        const std::string cmd = "gen convert " + dir + stem + ext + " " + dir + stem + ".safetensors";
        // the reason: the conversion, or that nothing reads the kind yet (the note still converts)
        EXPECT_NE(r.load.reason.find(users.empty() ? "no --preprocess name" : cmd), std::string::npos) << r.load.reason;
        EXPECT_NE(notes.find(cmd), std::string::npos) << notes;
      } else {
        EXPECT_EQ(r.load.ok, !users.empty()) << r.load.reason;
      }
    }
  }
  // The annotators this build has read their files (hed, pidinet, lineart, depth_anything).
  for (const char* stem : {"ControlNetHED", "table5_pidinet", "sk_model2", "depth_anything_v2_vitb"})
    EXPECT_TRUE(gen::io::inspect_path(dir + stem + ".safetensors").load.ok) << stem;
}

TEST(AnnotatorFiles, WrongFileMessagesUseTheSameRecognition) {
  const std::string dir = made() + "/tiny/";
  const c10::Device cpu(c10::kCPU);
  std::string msg = error_of([&] { an::load_network("hed", dir + "body_pose_model.safetensors", cpu, "hed"); });
  EXPECT_NE(msg.find("is an OpenPose body model file"), std::string::npos) << msg;
  msg = error_of([&] { an::load_network("lineart", dir + "mlsd_tiny_512_fp32.safetensors", cpu, "lineart"); });
  EXPECT_NE(msg.find("M-LSD"), std::string::npos) << msg;
  msg = error_of([&] { an::load_depth_anything(dir + "facenet.safetensors", cpu); });
  EXPECT_NE(msg.find("it looks like an OpenPose face model file"), std::string::npos) << msg;
  msg = error_of([&] { an::load_depth_anything(dir + "netG.pth", cpu); });
  EXPECT_NE(msg.find("anime line-art"), std::string::npos) << msg;
}
