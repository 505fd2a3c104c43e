// The annotators against controlnet-aux 0.0.10 (tools/controlnet_aux_reference.py, run once per
// build tree: random weights in the original files' key layouts, saved as the original .pth
// files, converted here with gen's convert): the networks' float outputs within 1e-4 relative,
// the 8-bit maps within 1 level except where a threshold flips a pixel (counted, bounded);
// util.py's steps; the bad inputs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "annotators/annotator_util.hpp"
#include "annotators/annotators.hpp"
#include "gen/error.hpp"
#include "io/convert.hpp"
#include "model_fixtures.hpp"
#include "tensor/from_safetensors.hpp"
#include "test_python.hpp"

using namespace gen;
namespace an = gen::annotators;

namespace {

const char* const kWeights[] = {"ControlNetHED", "table5_pidinet", "sk_model", "sk_model2"};

// The reference run's folder: the .pth files, their .safetensors conversions, maps, cases.json.
std::string reference() {
  static const std::string dir = [] {
    const std::string d = GEN_BINARY_DIR "/tests/tmp/annotators";
    std::filesystem::create_directories(d);
    const int lock = ::open((d + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock >= 0) ::flock(lock, LOCK_EX);
    if (::access((d + "/done").c_str(), F_OK) != 0) {
      const auto python = test::find_python();
      const std::string cmd = "'" + python + "' '" GEN_SOURCE_DIR "/tools/controlnet_aux_reference.py' --out '" + d + "'";
      if (python.empty() || std::system(cmd.c_str()) != 0) {
        ADD_FAILURE() << "could not run " << cmd;
      } else {
        for (const char* w : kWeights)  // as users do: gen convert X.pth X.safetensors
          io::convert_checkpoint(d + "/" + w + ".pth", d + "/" + w + ".safetensors", {});
        std::ofstream(d + "/done") << "ok\n";
      }
    }
    if (lock >= 0) ::close(lock);
    return d;
  }();
  return dir;
}

Image photo() { return to_rgb8(read_image(GEN_TEST_DATA_DIR "/control/source.png")); }

ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return ErrorCode::Ok;
}

}  // namespace

TEST(Annotators, MapsMatchControlnetAux) {
  const std::string dir = reference();
  const auto cases = test::read_json(dir + "/cases.json");
  ASSERT_GE(cases["cases"].size(), 30u);
  an::Annotators runner(dir);
  const Image src = photo();
  for (const auto& c : cases["cases"]) {
    const std::string name = c["name"], spec = c["preprocess"];
    an::RunSettings s;
    s.resolution = c["resolution"];
    const Image got = runner.run(src, spec, s, "photo");
    const Image want = to_rgb8(read_image(dir + "/" + name + ".png"));
    ASSERT_EQ(got.width, want.width) << name;
    ASSERT_EQ(got.height, want.height) << name;
    int worst = 0;
    std::size_t off = 0;
    for (std::size_t i = 0; i < got.data8.size(); ++i) {
      const int d = std::abs(got.data8[i] - want.data8[i]);
      worst = std::max(worst, d);
      off += d > 1;
    }
    // Thresholded maps (safe, scribble) may flip a pixel where the reference's value sits on
    // the threshold: counted and bounded (0.5% of the values); the others: within 1 level.
    const bool thresholded = spec.find("safe") != std::string::npos || spec.find("scribble") != std::string::npos;
    if (thresholded) EXPECT_LE(off, got.data8.size() / 200) << name << ": " << off << " values flipped";
    else EXPECT_LE(worst, 1) << name;
    if (worst > 0) std::printf("%s: max %d, %zu values off by more than 1 of %zu\n", name.c_str(), worst, off, got.data8.size());
  }
}

TEST(Annotators, NetworkOutputsMatchControlnetAux) {
  const std::string dir = reference();
  const auto raw = SafetensorsCheckpoint::open(dir + "/raw.safetensors");
  an::Annotators runner(dir);
  const cv::Mat src = an::to_mat(photo());
  int compared = 0;
  for (const std::string spec : {"hed", "pidinet", "lineart", "lineart_coarse"})
    for (int res : {128, 64}) {
      const std::string name = spec + "_" + std::to_string(res);
      const auto parsed = an::parse_annotator(spec);
      const auto net = runner.network(parsed, c10::Device(c10::kCPU));
      const std::string kind = parsed.info->kind;
      at::InferenceMode guard;
      const auto outputs = net->forward(an::network_input(kind, an::resize_image(src, res), c10::Device(c10::kCPU)));
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        const std::string key = kind == "hed" ? name + "." + std::to_string(i) : name;
        const auto want = load_tensor(raw, key, at::kFloat, at::kCPU);
        const double err = test::relative_error(outputs[i][0][0], want);
        EXPECT_LE(err, 1e-4) << key;
        ++compared;
      }
    }
  EXPECT_EQ(compared, 2 * (5 + 1 + 1 + 1));
}

TEST(Annotators, UtilStepsMatchControlnetAux) {
  const std::string dir = reference();
  const auto u = SafetensorsCheckpoint::open(dir + "/util.safetensors");
  const cv::Mat src = an::to_mat(photo());
  const auto as_mat = [&](const std::string& key) {
    auto t = load_tensor(u, key, at::kByte, at::kCPU).contiguous();
    const int channels = t.dim() == 3 ? static_cast<int>(t.size(2)) : 1;
    return cv::Mat(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC(channels), t.data_ptr()).clone();
  };
  for (int res : {64, 128, 200, 512}) {
    const cv::Mat want = as_mat("resize_image_" + std::to_string(res));
    const cv::Mat got = an::resize_image(src, res);
    ASSERT_EQ(got.size(), want.size()) << res;
    EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0) << "resize_image " << res;
  }
  const cv::Mat grey = as_mat("nms_input");
  EXPECT_EQ(cv::norm(an::nms(grey, 127, 3.0), as_mat("nms_127_3"), cv::NORM_INF), 0);
  EXPECT_EQ(cv::norm(an::nms(grey, 60, 1.5), as_mat("nms_60_1.5"), cv::NORM_INF), 0);
  const auto ramp = load_tensor(u, "safe_step_input", at::kDouble, at::kCPU).contiguous();
  const auto want = load_tensor(u, "safe_step_2", at::kDouble, at::kCPU);
  cv::Mat m(1, static_cast<int>(ramp.numel()), CV_64F, ramp.data_ptr<double>());
  cv::Mat x = m.clone();
  an::safe_step(x);
  EXPECT_EQ(at::from_blob(x.data, {x.cols}, at::kDouble).sub(want).abs().max().item<double>(), 0);
  EXPECT_EQ(an::detect_size(96, 80, 512), cv::Size(640, 512));
  EXPECT_EQ(an::detect_size(96, 80, 200), cv::Size(256, 192));
}

TEST(Annotators, NetworksAreLoadedOncePerRunner) {
  const std::string dir = reference();
  an::Annotators runner(dir);
  const auto spec = an::parse_annotator("hed:safe");
  EXPECT_EQ(runner.network(spec, c10::Device(c10::kCPU)).get(), runner.network(spec, c10::Device(c10::kCPU)).get());
  EXPECT_EQ(runner.network(spec, c10::Device(c10::kCPU)).get(),
            runner.network(an::parse_annotator("hed:scribble"), c10::Device(c10::kCPU)).get());
}

TEST(Annotators, BadInputs) {
  const std::string dir = reference();
  an::Annotators runner(dir);
  const Image src = photo();
  const an::RunSettings s;
  std::string msg;
  // the wrong annotator's file, named by what it is
  EXPECT_EQ(code_of([&] { runner.run(src, "hed:file=" + dir + "/sk_model.safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("line-art annotator file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sk_model.safetensors"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "lineart:file=" + dir + "/table5_pidinet.safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("PiDiNet"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "pidinet:file=" + dir + "/raw.safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("not an annotator file"), std::string::npos) << msg;
  // a missing file: which file, where gen looked
  an::Annotators empty_dir(GEN_TEST_DATA_DIR "/control");
  EXPECT_EQ(code_of([&] { empty_dir.run(src, "hed", {}, "photo"); }, &msg), ErrorCode::NotFound);
  EXPECT_NE(msg.find("ControlNetHED.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find(GEN_TEST_DATA_DIR "/control"), std::string::npos) << msg;
  an::Annotators no_dir;
  EXPECT_EQ(code_of([&] { no_dir.run(src, "lineart", {}, "photo"); }, &msg), ErrorCode::NotFound);
  EXPECT_NE(msg.find("--annotator-dir"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "hed:file=/nonexistent/x.safetensors", {}, "photo"); }), ErrorCode::NotFound);
  // only the original .pth: convert it first
  const std::string only_pth = GEN_BINARY_DIR "/tests/tmp/annotators-pth";
  std::filesystem::create_directories(only_pth);
  std::filesystem::copy_file(dir + "/sk_model2.pth", only_pth + "/sk_model2.pth",
                             std::filesystem::copy_options::overwrite_existing);
  an::Annotators pth(only_pth);
  EXPECT_EQ(code_of([&] { pth.run(src, "lineart_coarse", {}, "photo"); }, &msg), ErrorCode::Unsupported);
  EXPECT_NE(msg.find("gen convert"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "hed:file=" + dir + "/ControlNetHED.pth", {}, "photo"); }),
            ErrorCode::Unsupported);
  // images too small for the resolution, and 1×1
  EXPECT_EQ(code_of([&] { runner.run(Image::make(1, 1, 3), "hed", s, "one.png"); }, &msg), ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("one.png: is 1x1"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(Image::make(60, 40, 3), "lineart_standard", s, "small.png"); }, &msg),
            ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("too small for the preprocess resolution 512"), std::string::npos) << msg;
  // options
  for (const char* bad : {"hed:unsafe", "hed:safe:safe", "shuffle:seed=-1", "shuffle:seed=1.5", "lineart_standard:sigma=x",
                          "color:file=x.safetensors", "hed:file=", "lineart:safe"})
    EXPECT_EQ(code_of([&] { an::parse_annotator(bad); }), ErrorCode::InvalidArgument) << bad;
  an::RunSettings low;
  low.resolution = 32;
  EXPECT_EQ(code_of([&] { runner.run(src, "color", low, "photo"); }), ErrorCode::InvalidArgument);
}

TEST(Annotators, ShuffleSeedComesFromTheRunWithoutSeedOption) {
  const std::string dir = reference();
  an::Annotators runner(dir);
  an::RunSettings s;
  s.resolution = 64;
  s.seed = 1234;
  const Image a = runner.run(photo(), "shuffle", s, "photo");
  const Image b = to_rgb8(read_image(dir + "/shuffle_seed1234_64.png"));
  EXPECT_EQ(a.data8, b.data8);
}
