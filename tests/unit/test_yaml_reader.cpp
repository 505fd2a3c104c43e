// The LDM-config YAML reader (src/io/yaml_reader.hpp), checked against PyYAML's safe_load on a
// corpus of the constructs LDM configs use (and the tricky scalars of YAML 1.1), and refusing
// what it does not read with one message naming the file and line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gen/error.hpp"
#include "io/yaml_reader.hpp"
#include "test_python.hpp"
#include "tiny_models.hpp"

namespace {

using nlohmann::json;

// Values with their types spelt out, so that 1 and 1.0 and "1" differ (as in Python).
json typed(const json& v) {
  if (v.is_object()) {
    json o = json::object();
    for (const auto& [k, x] : v.items()) o[k] = typed(x);
    return o;
  }
  if (v.is_array()) {
    json a = json::array();
    for (const auto& x : v) a.push_back(typed(x));
    return a;
  }
  if (v.is_null()) return json::array({"null"});
  if (v.is_boolean()) return json::array({"bool", v.get<bool>()});
  if (v.is_number_integer()) return json::array({"int", std::to_string(v.get<std::int64_t>())});
  if (v.is_number_float()) {
    const double d = v.get<double>();
    char buf[64];
    if (std::isnan(d)) return json::array({"float", "nan"});
    if (std::isinf(d)) return json::array({"float", d > 0 ? "inf" : "-inf"});
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return json::array({"float", buf});
  }
  return json::array({"str", v.get<std::string>()});
}

const char* kPyTyped = R"PY(
import json, math, sys, yaml
def typed(v):
    if isinstance(v, dict): return {k: typed(x) for k, x in v.items()}
    if isinstance(v, list): return [typed(x) for x in v]
    if v is None: return ["null"]
    if isinstance(v, bool): return ["bool", v]
    if isinstance(v, int): return ["int", str(v)]
    if isinstance(v, float):
        if math.isnan(v): return ["float", "nan"]
        if math.isinf(v): return ["float", "inf" if v > 0 else "-inf"]
        return ["float", "%.17g" % v]
    return ["str", v]
out = []
for p in sys.argv[1:]:
    with open(p) as f: out.append(typed(yaml.safe_load(f)))
print(json.dumps(out))
)PY";

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

const std::vector<std::string> kCorpus = {
    // The shapes of v1-inference.yaml / v2-inference-v.yaml.
    "model:\n  base_learning_rate: 1.0e-04\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n"
    "    parameterization: \"v\"\n    linear_start: 0.00085\n    first_stage_key: \"jpg\"\n    use_ema: False # off\n"
    "    scheduler_config: # warmup\n      target: ldm.lr_scheduler.LambdaLinearScheduler\n      params:\n"
    "        warm_up_steps: [ 10000 ]\n        cycle_lengths: [ 10000000000000 ]\n        f_start: [ 1.e-6 ]\n"
    "        f_max: [ 1. ]\n    unet_config:\n      params:\n        attention_resolutions: [ 4, 2, 1 ]\n"
    "        num_head_channels: 64 # need to fix for flash-attn\n        num_heads: -1\n        legacy: False\n"
    "    first_stage_config:\n      params:\n        ddconfig:\n          ch_mult:\n          - 1\n          - 2\n"
    "          attn_resolutions: []\n          dropout: 0.0\n        lossconfig:\n          target: torch.nn.Identity\n"
    "    cond_stage_config:\n      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder\n      params:\n"
    "        freeze: True\n        layer: \"penultimate\"\n",
    // Sequences of mappings, nested sequences, a sequence at its key's indentation.
    "data:\n  - name: a\n    size: 1\n  - name: b\n    list:\n    - x\n    - y\n  - - 1\n    - 2\n  -\n    k: v\n",
    // YAML 1.1 scalars as PyYAML resolves them.
    "a: yes\nb: No\nc: on\nd: OFF\ne: ~\nf: null\ng:\nh: 0x1F\ni: 017\nj: 0b101\nk: 1_000\nl: -0\nm: +12\n"
    "n: 1e5\no: 1.5e+3\np: 1.0e3\nq: .5\nr: -.inf\ns: .NaN\nt: 3.\nu: '017'\nv: \"a\\tb\"\nw: 'it''s'\n"
    "x: http://example.com/a#b\ny: a # comment\nz: [a, 'b, c', {k: 1, l: [2, 3]}, {}]\n",
    // Document markers, a directive, CRLF line ends, flow mappings.
    "%YAML 1.1\n---\nroot: {a: 1, b: two}\r\nlist: []\r\n...\n# a comment after the end\n",
    "--- \n- 1\n- 2.5\n- three\n",
};

}  // namespace

TEST(YamlReader, MatchesPyYamlSafeLoad) {
  const auto python = gen::test::find_python();
  ASSERT_FALSE(python.empty());
  const std::string dir = GEN_BINARY_DIR "/tests/tmp/yaml";
  std::system(("mkdir -p '" + dir + "'").c_str());
  std::vector<std::string> files;
  for (std::size_t i = 0; i < kCorpus.size(); ++i) {
    files.push_back(dir + "/case" + std::to_string(i) + ".yaml");
    std::ofstream(files.back(), std::ios::binary) << kCorpus[i];
  }
  // The tiny models' LDM configs, as tools/make_tiny_models.py writes them.
  for (const char* n : {"tiny-v1-inference.yaml", "tiny-v2-inference-v.yaml"})
    files.push_back(gen::test::tiny_models() + "/configs/" + n);
  std::ofstream(dir + "/typed.py") << kPyTyped;
  std::string cmd = "'" + python + "' '" + dir + "/typed.py'";
  for (const auto& f : files) cmd += " '" + f + "'";
  const json want = json::parse(run(cmd));
  ASSERT_EQ(want.size(), files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(files[i]);
    EXPECT_EQ(typed(gen::io::read_yaml_file(files[i])).dump(1), want[i].dump(1));
  }
}

TEST(YamlReader, RefusesWhatItDoesNotReadNamingTheLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a:\n\tb: 1\n", "f.yaml:2: a tab in the indentation"},
      {"a: &x 1\nb: *x\n", "f.yaml:1: anchors and aliases are not supported"},
      {"a: !!str 1\n", "f.yaml:1: tags are not supported"},
      {"a: |\n  text\n", "f.yaml:1: block scalars (| and >) are not supported"},
      {"a: [1, 2\n", "f.yaml:1: an unterminated [ (flow collections must end on their line)"},
      {"a: 1\na: 2\n", "f.yaml:2: the key 'a' is given twice"},
      {"a: 1\n  b: 2\n", "f.yaml:2: a value continued on the next line (multi-line scalars are not supported)"},
      {"a:\n    b: 1\n  c: 2\n", "f.yaml:3: unexpected indentation"},
      {"a: \"open\n", "f.yaml:1: an unterminated quoted string (multi-line strings are not supported)"},
      {"a: 1:30\n", "f.yaml:1: '1:30': base-60 numbers are not supported (quote it if it is a string)"},
      {"a: 99999999999999999999\n", "f.yaml:1: '99999999999999999999': an integer beyond 64 bits"},
      {"1: a\n", "f.yaml:1: a key that is not a string (1)"},
      {"a: 1\n---\nb: 2\n", "f.yaml:2: a second YAML document"},
      {"a: 1\n...\nb: 2\n", "f.yaml:3: text after the document's end (...)"},
      {"just text\nmore: 1\n", "f.yaml:1: expected 'key: value' or '- item'"},
      {std::string("a: 1\0b", 6), "f.yaml: binary data, not YAML text"},
  };
  for (const auto& [text, message] : cases) {
    SCOPED_TRACE(text);
    try {
      gen::io::parse_yaml(text, "f.yaml");
      ADD_FAILURE() << "accepted";
    } catch (const gen::Error& e) {
      EXPECT_EQ(e.code(), gen::ErrorCode::InvalidFormat);
      EXPECT_EQ(std::string(e.what()), message);
    }
  }
}

TEST(YamlReader, BoundsDepthAndSize) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += std::string(static_cast<std::size_t>(i) * 2, ' ') + "k:\n";
  EXPECT_THROW(gen::io::parse_yaml(deep, "deep.yaml"), gen::Error);
  std::string flow(200, '[');
  EXPECT_THROW(gen::io::parse_yaml("a: " + flow, "flow.yaml"), gen::Error);
  EXPECT_THROW(gen::io::parse_yaml(std::string(gen::io::kMaxYamlFile + 1, '#'), "big.yaml"), gen::Error);
  EXPECT_EQ(gen::io::parse_yaml("", "empty.yaml"), nullptr);
  EXPECT_EQ(gen::io::parse_yaml("# only a comment\n", "c.yaml"), nullptr);
}
