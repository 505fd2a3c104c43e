// gen CLI: what generate and batch share about progress and interruption — SIGINT / SIGTERM
// cancelling the engine, the progress bar's line, durations and the total ETA, the loading
// lines. The JSON events are listed, field by field, in docs/cli.md (--progress json).
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "gen/engine.hpp"

namespace gen::cli {

// While alive: SIGINT and SIGTERM cancel the engine's generate() in progress (checked between
// two blocks of a model call: pipeline's models/stop.hpp), and requested() says so. The
// handlers stay installed afterwards (a second signal is not fatal either).
class SignalStop {
 public:
  explicit SignalStop(Engine& engine);
  ~SignalStop();
  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;
  static bool requested();
  // "SIGINT" or "SIGTERM" (the first one received), "" before any.
  static const char* signal_name();

 private:
  std::thread watcher_;
};

// "0:07", "12:34", "1:02:03".
std::string clock_text(double seconds);
// "[#####.....]" `width` characters between the brackets.
std::string bar_text(double fraction, int width);

// The estimate of a whole run: sampling started `start` seconds into it; at `now` the fraction
// `done` (0..1) of it was done. Returns the seconds left (-1: nothing to go on yet).
double eta_seconds(double start, double now, double done);

// The progress bar's line on stderr (bar mode): show() redraws it, message() prints a line
// above it, close() clears it, and end() finishes it with a newline so that what follows (an
// error, "interrupted") starts on a clean line.
class BarLine {
 public:
  explicit BarLine(bool enabled) : enabled_(enabled) {}
  bool enabled() const { return enabled_; }
  void show(const std::string& text);
  void message(const std::string& line);  // with its newline
  void close();
  void end();

 private:
  bool enabled_;
  bool open_ = false;
};

// "loading UNet from models/x.safetensors" (bar mode prints one line per part; JSON mode an
// event: load_event).
std::string load_line(const LoadProgress& p);

}  // namespace gen::cli
