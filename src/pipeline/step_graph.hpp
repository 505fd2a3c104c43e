// gen — the model half of a denoising step (ControlNets + UNet + guidance: from the scaled
// latents and the timestep to the guided model output) run through CUDA graphs.
//
// A step is described by a key (everything that changes the work: shapes, dtype, layout,
// which ControlNets act and their scales, the guidance scale, ...). The first call with a
// key runs the step eagerly on the capture stream (warm-up); the second captures it as a
// graph over static input buffers and replays it; later calls copy their inputs into those
// buffers and replay. A new key (another size, another set of active ControlNets) captures
// again; at most `capacity` graphs are kept (least recently used dropped), all in one
// memory pool. If a capture fails, graphs are switched off for this cache (the reason is
// kept in stats()) and every step runs eagerly: the same images, slower.
//
// Inputs that are the same tensor object as on the previous call of the key (the text
// context, hint embeddings) are not copied again. The output is a fresh tensor (a copy of
// the graph's static output), so schedulers may keep it across steps.
//
// FLOPs (models/flops.hpp) are counted for replays as for eager calls.
//
// Mode::Emulate runs the same bookkeeping with eager "replays" of the captured function on
// the static buffers, on any device: the CPU tests check the static-buffer logic with it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

namespace gen::pipeline {

class StepGraphs {
 public:
  enum class Mode { Cuda, Emulate };

  // x: the scaled latents; tt: the timestep, a float tensor of `tt_size` values on x's
  // device; fixed: the other inputs (context, hints). Returns the guided model output.
  using Body = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& tt,
                                        const std::vector<at::Tensor>& fixed)>;

  struct Stats {
    int warmups = 0;
    int captures = 0;
    int replays = 0;
    int eager = 0;             // calls run eagerly because graphs were switched off
    std::string disabled_why;  // why graphs were switched off (empty while they are on)
  };

  explicit StepGraphs(Mode mode, int capacity = 4);
  ~StepGraphs();
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;

  at::Tensor run(const std::string& key, const at::Tensor& x, double t, std::int64_t tt_size,
                 const std::vector<at::Tensor>& fixed, const Body& body);

  // Drops every graph and its buffers (models they refer to are going away).
  void clear();
  // Lets go of the inputs held for the "same tensor" check (between requests).
  void release_inputs();
  const Stats& stats() const noexcept { return stats_; }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry;
  at::Tensor replay(Entry& e, const at::Tensor& x, double t, const std::vector<at::Tensor>& fixed, const Body& body);
  Mode mode_;
  int capacity_;
  std::list<std::unique_ptr<Entry>> entries_;  // most recently used first
  Stats stats_;
};

}  // namespace gen::pipeline
