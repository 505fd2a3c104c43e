#include "pipeline/step_graph.hpp"

#include <ATen/ATen.h>

#include "kernels.hpp"
#include "models/flops.hpp"
#include "models/stop.hpp"

namespace gen::pipeline {

struct StepGraphs::Entry {
  std::string key;
  bool warm = false;
  std::unique_ptr<kernels::CudaGraph> graph;  // Mode::Cuda, once captured
  at::Tensor x, tt;                           // static inputs
  std::vector<at::Tensor> fixed;
  std::vector<at::Tensor> fixed_source;  // the tensors last copied into `fixed`
  at::Tensor out;                        // the graph's static output
  bool emulated = false;                 // Mode::Emulate: "captured"
  double flops = 0;                      // counted per call
};

StepGraphs::StepGraphs(Mode mode, int capacity) : mode_(mode), capacity_(capacity < 1 ? 1 : capacity) {}
StepGraphs::~StepGraphs() = default;

void StepGraphs::clear() { entries_.clear(); }

void StepGraphs::release_inputs() {
  for (auto& e : entries_)
    for (auto& s : e->fixed_source) s = at::Tensor();
}

namespace {

at::Tensor buffer_like(const at::Tensor& t) {
  return at::empty_like(t, t.suggest_memory_format());
}

}  // namespace

at::Tensor StepGraphs::replay(Entry& e, const at::Tensor& x, double t, const std::vector<at::Tensor>& fixed,
                              const Body& body) {
  e.x.copy_(x);
  e.tt.fill_(t);
  for (std::size_t i = 0; i < fixed.size(); ++i)
    if (!fixed[i].is_same(e.fixed_source[i])) {
      e.fixed[i].copy_(fixed[i]);
      e.fixed_source[i] = fixed[i];
    }
  if (mode_ == Mode::Cuda) {
    e.graph->replay();
    models::flops::add(e.flops);
  } else {
    e.out = body(e.x, e.tt, e.fixed);  // the same work (same key); counts its own FLOPs
  }
  ++stats_.replays;
  return e.out.clone();
}

at::Tensor StepGraphs::run(const std::string& key, const at::Tensor& x, double t, std::int64_t tt_size,
                           const std::vector<at::Tensor>& fixed, const Body& body) {
  const auto tt_options = at::TensorOptions().dtype(at::kFloat).device(x.device());
  if (!stats_.disabled_why.empty()) {
    ++stats_.eager;
    return body(x, at::full({tt_size}, t, tt_options), fixed);
  }
  auto it = entries_.begin();
  while (it != entries_.end() && (*it)->key != key) ++it;
  if (it != entries_.end()) {
    entries_.splice(entries_.begin(), entries_, it);
  } else {
    while (static_cast<int>(entries_.size()) >= capacity_) entries_.pop_back();
    auto e = std::make_unique<Entry>();
    e->key = key;
    e->x = buffer_like(x);
    e->tt = at::empty({tt_size}, tt_options);
    for (const auto& f : fixed) e->fixed.push_back(buffer_like(f));
    e->fixed_source.resize(fixed.size());
    entries_.push_front(std::move(e));
  }
  Entry& e = *entries_.front();
  if (e.graph || e.emulated) return replay(e, x, t, fixed, body);

  // Static inputs filled for the warm-up or the capture.
  e.x.copy_(x);
  e.tt.fill_(t);
  for (std::size_t i = 0; i < fixed.size(); ++i) {
    e.fixed[i].copy_(fixed[i]);
    e.fixed_source[i] = fixed[i];
  }
  if (!e.warm) {
    at::Tensor out;
    if (mode_ == Mode::Cuda)
      kernels::CudaGraph::warm_up([&] { out = body(e.x, e.tt, e.fixed); });
    else
      out = body(e.x, e.tt, e.fixed);
    e.warm = true;
    ++stats_.warmups;
    return out;
  }
  // Capture: nothing runs, then one replay computes this call.
  const double f0 = models::flops::total();
  if (mode_ == Mode::Cuda) {
    const kernels::CudaGraph* share = nullptr;
    for (const auto& other : entries_)
      if (other.get() != &e && other->graph) share = other->graph.get();
    auto graph = std::make_unique<kernels::CudaGraph>();
    try {
      graph->capture(
          [&] {
            const models::StopScope no_stop(nullptr);  // never throw out of a capture half done
            e.out = body(e.x, e.tt, e.fixed);
          },
          share);
    } catch (const std::exception& err) {
      std::string why = err.what();
      stats_.disabled_why = "CUDA graph capture failed: " + why.substr(0, why.find('\n'));
      entries_.clear();
      ++stats_.eager;
      return body(x, at::full({tt_size}, t, tt_options), fixed);
    }
    e.graph = std::move(graph);
    e.flops = models::flops::total() - f0;
    e.graph->replay();  // the capture counted this call's FLOPs
  } else {
    e.emulated = true;
    e.out = body(e.x, e.tt, e.fixed);
    e.flops = models::flops::total() - f0;
  }
  ++stats_.captures;
  return e.out.clone();
}

}  // namespace gen::pipeline
