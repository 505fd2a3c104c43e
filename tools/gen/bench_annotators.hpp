// `gen bench -w annotators` (bench_annotators.cpp; docs/performance.md#annotators).
#pragma once

#include <string>
#include <vector>

#include "gen/request.hpp"

namespace gen::cli {

struct AnnotatorBenchOptions {
  std::vector<std::string> annotators;  // --preprocess specs; empty: the default list
  std::string annotator_dir;            // --annotator-dir (else $GEN_ANNOTATOR_DIR)
  std::string image;                    // --image (else a synthetic 512x512 picture)
  Device device = Device::Cpu;
  int threads = 0;
  int warmup = 1;
  int repeats = 0;  // 0: 5
  bool json = false;
};

int run_annotator_bench(const AnnotatorBenchOptions& o);

}  // namespace gen::cli
