// Embedding gen: generate an image with progress and preview callbacks, write it with its
// metadata, then start a long request and cancel it from another thread.
//   embed MODEL OUT.png      (MODEL: a checkpoint file or diffusers folder)
// docs/api.md shows this file as it is (the docs test compares them); CTest's package.embed
// builds it against the installed package and runs it on a tiny model.
#include <gen/gen.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: embed MODEL OUT.png\n");
    return 2;
  }
  try {
    gen::EngineOptions options = gen::default_engine_options();
    options.model = argv[1];  // requests that name no model use this one
    options.device = gen::Device::Cpu;
    gen::Engine engine(options);

    gen::Request request = gen::default_request();  // every field has a default (gen/request.hpp)
    request.prompt = "a lighthouse on a cliff, (sunset:1.2)";
    request.width = 64;
    request.height = 64;
    request.steps = 4;
    request.seed = 42;

    gen::Callbacks callbacks = gen::default_callbacks();
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

    // Cancellation from another thread: the call in progress stops at its next step. The
    // thread ends on every path (also when generate() fails before its first step) and is
    // joined when `join` goes out of scope, before any exception leaves this block.
    request.steps = 1000;
    std::atomic<bool> started{false}, finished{false};
    gen::Callbacks watch = gen::default_callbacks();
    watch.on_progress = [&](const gen::Progress&) { started = true; };
    std::thread canceller([&] {
      while (!started && !finished) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (started) engine.cancel();
    });
    struct Join {
      std::atomic<bool>& finished;
      std::thread& thread;
      ~Join() {
        finished = true;
        thread.join();
      }
    } join{finished, canceller};
    try {
      engine.generate(request, watch);
      std::printf("not cancelled\n");
      return 1;
    } catch (const gen::Error& e) {
      if (e.code() != gen::ErrorCode::Cancelled) throw;
      std::printf("cancelled as asked: %s\n", e.what());
    }
  } catch (const gen::Error& e) {
    std::fprintf(stderr, "embed: error [%s]: %s\n", gen::code_name(e.code()), e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embed: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
