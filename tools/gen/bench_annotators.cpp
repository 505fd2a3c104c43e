// `gen bench -w annotators`: each annotator on a 512x512 picture at resolution 512 (the map
// as `gen preprocess` makes it: controlnet-aux's detector with detect_resolution =
// image_resolution = 512), weights loaded once (ControlMapper), warm-up then timed runs;
// medians per annotator. tools/bench_annotators.py runs controlnet-aux 0.0.10 beside it.
#include "bench_annotators.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/fail.hpp"
#include "gen/control.hpp"
#include "gen/image.hpp"

namespace gen::cli {
namespace {

// A deterministic photo-like picture: smooth colour gradients, a few discs and bars (edges for
// the edge detectors), mild noise from a fixed LCG.
Image synthetic_photo(int size) {
  Image img = Image::make(size, size, 3);
  std::uint32_t state = 12345;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      state = state * 1664525u + 1013904223u;
      const double noise = ((state >> 24) & 15) - 7.5;
      const double cx = x - size * 0.4, cy = y - size * 0.55;
      const bool disc = cx * cx + cy * cy < size * size * 0.04;
      const bool bar = (x / (size / 8)) % 3 == 0 && y > size * 0.7;
      const double base[3] = {60 + 150.0 * x / size, 80 + 120.0 * y / size, 200 - 120.0 * (x + y) / (2.0 * size)};
      for (int c = 0; c < 3; ++c) {
        double v = base[c] + noise;
        if (disc) v = 230 - 40 * c + noise;
        if (bar) v = 30 + 20 * c + noise;
        img.data8[(static_cast<std::size_t>(y) * size + x) * 3 + c] =
            static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  return img;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int run_annotator_bench(const AnnotatorBenchOptions& o) {
  const Image photo = o.image.empty() ? synthetic_photo(512) : read_image(o.image);
  std::vector<std::string> names = o.annotators;
  if (names.empty())  // tools/bench_annotators.py's DEFAULT
    names = {"hed", "pidinet", "lineart", "lineart_coarse", "lineart_anime", "mlsd", "openpose",
             "lineart_standard", "shuffle", "depth_anything"};
  const int repeats = o.repeats > 0 ? o.repeats : 5;
  PreprocessOptions po;
  po.annotator_dir = o.annotator_dir;
  po.resolution = 512;
  po.device = o.device;
  po.threads = o.threads;
  ControlMapper mapper(po);
  using clock = std::chrono::steady_clock;
  // Each annotator once on a 64x64 corner first (detected at 512 too: the corner is scaled up):
  // its weights load (timed with that run, load_s), and a missing or wrong file is the one error
  // line before anything is printed.
  Image corner = Image::make(64, 64, 3);
  for (int y = 0; y < 64; ++y)
    std::copy_n(photo.data8.begin() + static_cast<std::ptrdiff_t>(y) * photo.width * 3, 64 * 3,
                corner.data8.begin() + static_cast<std::ptrdiff_t>(y) * 64 * 3);
  std::vector<double> load;
  for (const auto& spec : names) {
    const auto t0 = clock::now();
    mapper.map(corner, spec, ResizeMode::Just, 64, 64);
    load.push_back(std::chrono::duration<double>(clock::now() - t0).count());
  }
  const char* where = o.device == Device::Cuda ? "cuda" : o.device == Device::Auto ? "auto" : "cpu";
  if (!o.json)
    std::fprintf(stderr, "gen bench annotators: %dx%d picture, resolution 512, device %s, threads %d\n", photo.width,
                 photo.height, where, o.threads);
  nlohmann::json rows = nlohmann::json::array();
  std::ostringstream table;
  char line[160];
  std::snprintf(line, sizeof line, "%-18s %10s %10s %10s %16s\n", "annotator", "median s", "min s", "max s",
                "load (+1 run)");
  table << line;
  for (std::size_t k = 0; k < names.size(); ++k) {
    const std::string& spec = names[k];
    std::vector<double> times;
    for (int i = 0; i < o.warmup + repeats; ++i) {
      const auto t0 = clock::now();
      const Image map = mapper.map(photo, spec, ResizeMode::Just, 512, 512);
      const double s = std::chrono::duration<double>(clock::now() - t0).count();
      if (i >= o.warmup) times.push_back(s);
      if (!o.json)
        std::fprintf(stderr, "  %s %s %d: %.4f s\n", spec.c_str(), i < o.warmup ? "warm-up" : "run",
                     i < o.warmup ? i + 1 : i - o.warmup + 1, s);
    }
    const double med = median(times);
    const auto [mn, mx] = std::minmax_element(times.begin(), times.end());
    rows.push_back({{"preprocess", spec}, {"median_s", med}, {"min_s", *mn}, {"max_s", *mx}, {"load_s", load[k]},
                    {"repeats", repeats}});
    std::snprintf(line, sizeof line, "%-18s %10.4f %10.4f %10.4f %16.4f\n", spec.c_str(), med, *mn, *mx, load[k]);
    table << line;
  }
  if (o.json) {
    const nlohmann::json j = {{"schema", "gen.bench/1"}, {"workload", "annotators"},
                              {"what", "each annotator on a 512x512 picture at resolution 512"},
                              {"device", where}, {"threads", o.threads}, {"warmup", o.warmup},
                              {"repeats", repeats}, {"annotators", rows}};
    std::printf("%s\n", j.dump(1).c_str());
  } else {
    std::printf("annotators on a %dx%d picture, resolution 512 (%d warm-up, %d repeats)\n%s", photo.width,
                photo.height, o.warmup, repeats, table.str().c_str());
  }
  return 0;
}

}  // namespace gen::cli
