// Embedding gen: generate an image with progress and preview callbacks, write it with its
// metadata, then start a long request and cancel it from another thread.
//   embed MODEL OUT.png      (MODEL: a checkpoint file or diffusers folder)
#include <gen/gen.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: embed MODEL OUT.png\n");
    return 2;
  }
  try {
    gen::EngineOptions options;
    options.model = argv[1];  // requests that name no model use this one
    options.device = gen::Device::Cpu;
    gen::Engine engine(options);

    gen::Request request;  // every field has a default (gen/request.hpp)
    request.prompt = "a lighthouse on a cliff, (sunset:1.2)";
    request.width = 64;
    request.height = 64;
    request.steps = 4;
    request.seed = 42;

    gen::Callbacks callbacks;
    int previews = 0;
    callbacks.on_progress = [](const gen::Progress& p) { std::printf("step %d/%d\n", p.step, p.steps); };
    callbacks.on_preview = [&](const gen::Preview& p) {
      ++previews;  // p.image: 8-bit RGB at 1/8 of the size, cheap enough for every step
      if (p.image.width != 8 || p.image.height != 8) std::printf("unexpected preview size\n");
    };
    auto images = engine.generate(request, callbacks);
    gen::write_png(argv[2], images.at(0).image, images.at(0).metadata);
    const auto t = engine.last_timings();
    std::printf("wrote %s (seed %llu, %dx%d) with %d previews; encode %.3fs, denoise %.3fs, decode %.3fs\n",
                argv[2], static_cast<unsigned long long>(images[0].seed), images[0].image.width,
                images[0].image.height, previews, t.encode, t.denoise, t.decode);
    if (previews != request.steps) return 1;

    // Cancellation from another thread: the call in progress stops at its next step.
    request.steps = 1000;
    std::atomic<bool> started{false};
    gen::Callbacks watch;
    watch.on_progress = [&](const gen::Progress&) { started = true; };
    std::thread canceller([&] {
      while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      engine.cancel();
    });
    try {
      engine.generate(request, watch);
      std::printf("not cancelled\n");
      canceller.join();
      return 1;
    } catch (const gen::Error& e) {
      canceller.join();
      if (e.code() != gen::ErrorCode::Cancelled) throw;
      std::printf("cancelled as asked: %s\n", e.what());
    }
  } catch (const gen::Error& e) {
    std::fprintf(stderr, "embed: error [%s]: %s\n", gen::code_name(e.code()), e.what());
    return e.exit_code();
  }
  return 0;
}
