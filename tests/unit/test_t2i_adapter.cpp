// The T2I-Adapter against diffusers' T2IAdapter (full, light, one-channel full), fp32 on the CPU,
// from both layouts: diffusers names (.safetensors) and TencentARC's original names (.pth, read
// by the non-executing pickle reader). Fixtures: tools/t2i_adapter_reference.py --fixtures.
// Tolerance: relative error (max abs difference over max abs reference) <= 1e-4.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "arch/classify.hpp"
#include "control/t2i_adapter.hpp"
#include "gen/error.hpp"
#include "gen/metadata.hpp"
#include "gen/request.hpp"
#include "gen/engine.hpp"
#include "gen/image.hpp"
#include "model_fixtures.hpp"
#include "tiny_models.hpp"
#include "safetensors_test_util.hpp"
#include "tensor/from_safetensors.hpp"

#include <ATen/CPUGeneratorImpl.h>

using namespace gen;
using gen::test::relative_error;

namespace {

constexpr double kTolerance = 1e-4;

std::string fixture(const std::string& name) { return std::string(GEN_TEST_DATA_DIR) + "/t2i_adapter/" + name; }

struct Case {
  const char* name;
  control::T2IKind kind;
  std::int64_t in_channels, levels, blocks;
};
const Case kCases[] = {{"full", control::T2IKind::Full, 3, 2, 2},
                       {"light", control::T2IKind::Light, 3, 3, 2},
                       {"full_grey", control::T2IKind::Full, 1, 3, 1}};

void check_call(const Case& c, const std::string& file, control::T2ILayout layout) {
  SCOPED_TRACE(file);
  const auto described = control::describe_t2i_adapter(fixture(file));
  EXPECT_EQ(described.config.kind, c.kind);
  EXPECT_EQ(described.config.layout, layout);
  EXPECT_EQ(described.config.in_channels, c.in_channels);
  EXPECT_EQ(static_cast<std::int64_t>(described.config.channels.size()), c.levels);
  EXPECT_EQ(described.config.num_res_blocks, c.blocks);
  auto net = control::load_t2i_adapter(fixture(file), at::kFloat, at::kCPU);
  auto io = SafetensorsCheckpoint::open(fixture(std::string(c.name) + "_io.safetensors"));
  const auto features = net->forward(load_tensor(io, "x", at::kFloat, at::kCPU));
  ASSERT_EQ(static_cast<std::int64_t>(features.size()), c.levels);
  for (std::size_t i = 0; i < features.size(); ++i)
    EXPECT_LE(relative_error(features[i], load_tensor(io, "feature." + std::to_string(i), at::kFloat, at::kCPU)),
              kTolerance)
        << "feature " << i;
}

}  // namespace

TEST(T2IAdapter, MatchesDiffusersFromBothLayouts) {
  for (const auto& c : kCases) {
    check_call(c, std::string(c.name) + ".safetensors", control::T2ILayout::Diffusers);
    check_call(c, std::string(c.name) + ".pth", control::T2ILayout::Original);
  }
}

TEST(T2IAdapter, ClassifiedAsT2IAdapter) {
  auto ckpt = SafetensorsCheckpoint::open(fixture("light.safetensors"));
  std::vector<NamedShape> named;
  for (const auto& n : ckpt.names()) named.push_back({n, ckpt.info(n).shape});
  const auto r = classify(named);
  EXPECT_EQ(r.kind, ModelKind::T2IAdapter);
  EXPECT_EQ(r.layout, Layout::Diffusers);
  EXPECT_NE(r.summary.find("Light T2I-Adapter"), std::string::npos) << r.summary;
}

TEST(T2IAdapter, OtherFilesAreRefusedSayingWhatTheyAre) {
  // A ControlNet given as an adapter: ModelMismatch naming what it is.
  try {
    control::describe_t2i_adapter(gen::test::model_fixture("controlnet_sd1.safetensors"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ModelMismatch);
    EXPECT_NE(std::string(e.what()).find("not a T2I-Adapter"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ControlNet"), std::string::npos) << e.what();
  }
  try {
    control::describe_t2i_adapter(fixture("no-such-adapter.pth"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
  }
}

TEST(T2IAdapter, RenameTableMapsOriginalToDiffusersNames) {
  control::T2IAdapterConfig full;
  full.layout = control::T2ILayout::Diffusers;
  full.num_res_blocks = 2;
  full.channels = {320, 640, 1280, 1280};
  EXPECT_EQ(control::t2i_adapter_name(full, "conv_in.weight"), "conv_in.weight");
  EXPECT_EQ(control::t2i_adapter_name(full, "body.5.block2.bias"), "body.2.resnets.1.block2.bias");
  EXPECT_EQ(control::t2i_adapter_name(full, "body.4.in_conv.weight"), "body.2.in_conv.weight");
  auto light = full;
  light.kind = control::T2IKind::Light;
  EXPECT_EQ(control::t2i_adapter_name(light, "body.3.body.1.block1.weight"), "body.3.resnets.1.block1.weight");
  EXPECT_EQ(control::t2i_adapter_name(light, "body.3.out_conv.weight"), "body.3.out_conv.weight");
}

TEST(T2IAdapter, RequestGroupsRoundTripThroughJsonAndInfotext) {
  gen::Request r;
  r.adapters.emplace_back();
  r.adapters[0].model = "depth.pth";
  r.adapters[0].image = "depth.png";
  r.adapters[0].scale = 0.75;
  r.adapters.push_back(r.adapters[0]);
  r.adapters[1].model = "pose.pth";
  const auto back = gen::Request::from_json(r.to_json());
  ASSERT_EQ(back.adapters.size(), 2u);
  EXPECT_EQ(back.adapters[1].model, "pose.pth");
  EXPECT_EQ(back.adapters[0].scale, 0.75);
  const auto text = gen::a1111_parameters(r, 7, 0);
  EXPECT_NE(text.find("T2I-Adapter 1: \"Model: pose.pth, Weight: 0.75\""), std::string::npos) << text;
  // A request without adapters writes no "adapters" key (files stay as before).
  EXPECT_EQ(gen::Request().to_json().find("adapters"), std::string::npos);
  EXPECT_THROW(gen::Request::from_json(R"({"adapters": [{"model": "a.pth"}]})"), gen::Error);  // no image
  EXPECT_THROW(gen::Request::from_json(R"({"adapters": [{"model": "a.pth", "image": "x.png", "scale": "big"}]})"),
               gen::Error);
  EXPECT_THROW(gen::Request::from_json(R"({"adapters": [{"model": "a.pth", "image": "x.png", "weight": 1}]})"),
               gen::Error);
}

TEST(T2IAdapter, FullSizeParameterCountsAreDiffusers) {
  // diffusers: sum(p.numel()) of T2IAdapter() (full_adapter, SD 1.x) and of
  // T2IAdapter(adapter_type="light_adapter", channels=[320, 640, 1280], num_res_blocks=4).
  control::T2IAdapterConfig full;
  full.channels = {320, 640, 1280, 1280};
  EXPECT_EQ(control::T2IAdapter(full).parameter_count(), 77369280);
  control::T2IAdapterConfig light;
  light.kind = control::T2IKind::Light;
  light.num_res_blocks = 4;
  light.channels = {320, 640, 1280, 1280};
  EXPECT_EQ(control::T2IAdapter(light).parameter_count(), 18689200);
}

namespace {

// A random full adapter for the tiny SD 1.5 model (channels 32, 64), written with the original
// names (gen's module names).
std::string tiny_adapter(const std::string& dir, const std::string& name, std::uint64_t seed) {
  control::T2IAdapterConfig c;
  c.channels = {32, 64};
  control::T2IAdapter net(c);
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<at::Tensor> keep;
  std::vector<TensorData> tensors;
  net.visit([&](const std::string& n, models::Module::Param& p) {
    keep.push_back(at::randn(p.shape, g) * 0.2);
    tensors.push_back({n, DType::F32, p.shape, keep.back().data_ptr(), static_cast<std::size_t>(keep.back().nbytes())});
  });
  const auto path = dir + "/" + name + ".safetensors";
  write_safetensors(path, tensors);
  return path;
}

gen::Request tiny_request() {
  gen::Request r;
  r.model = gen::test::tiny_models() + "/diffusers/tiny-sd15-pipeline";
  r.prompt = "a small red house";
  r.width = 48;
  r.height = 32;
  r.steps = 3;
  r.seed = 9;
  r.device = gen::Device::Cpu;
  return r;
}

}  // namespace

// Through the engine: adapters change the image, an image in memory gives the file's pixels,
// and the step graphs (emulated on the CPU: keys, static inputs) give the plain engine's pixels
// for adapters alone, with a ControlNet, and when only a scale changes.
TEST(T2IAdapter, ThroughTheEngine) {
  const std::string image = GEN_SOURCE_DIR "/tests/data/control/canny_100_200.png";
  const auto dir = gen_test::test_dir();
  gen::AdapterRequest a{tiny_adapter(dir, "t2i_a", 1), image, 1.0, {}};
  gen::AdapterRequest b{tiny_adapter(dir, "t2i_b", 2), image, 0.5, {}};
  gen::ControlRequest cn;
  cn.model = gen::test::tiny_models() + "/tiny-control-v11.safetensors";
  cn.image = image;
  auto with = [&](std::vector<gen::AdapterRequest> adapters, bool control) {
    auto r = tiny_request();
    r.adapters = std::move(adapters);
    if (control) r.controls = {cn};
    return r;
  };
  auto a2 = a;
  a2.scale = 0.25;
  auto in_memory = a;
  in_memory.image.clear();
  in_memory.pixels = gen::read_image(image);
  const std::vector<gen::Request> requests = {with({}, false), with({a}, false), with({a, b}, true),
                                              with({a2}, false), with({in_memory}, false)};
  gen::EngineOptions o;
  o.device = gen::Device::Cpu;
  std::vector<gen::Image> plain;
  {
    gen::Engine engine(o);
    for (const auto& r : requests) plain.push_back(engine.generate(r).at(0).image);
  }
  EXPECT_NE(plain[0].data8, plain[1].data8);  // the adapter acts
  EXPECT_NE(plain[1].data8, plain[3].data8);  // … by its scale
  EXPECT_EQ(plain[1].data8, plain[4].data8);  // pixels in memory = the file
  o.emulate_graphs = true;
  gen::Engine graphs(o);
  for (std::size_t i = 0; i < requests.size(); ++i)
    EXPECT_EQ(graphs.generate(requests[i]).at(0).image.data8, plain[i].data8) << "request " << i;
}
