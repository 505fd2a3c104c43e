#include "progress.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>

namespace gen::cli {
namespace {

std::atomic<bool> g_requested{false};
std::atomic<int> g_signal{0};
int g_pipe[2] = {-1, -1};

// Async-signal-safe: an atomic store and a write(2) that wakes the watcher thread.
void on_signal(int sig) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, sig);
  g_requested.store(true);
  const int saved = errno;
  if (g_pipe[1] >= 0) {
    const char c = 's';
    [[maybe_unused]] const auto n = ::write(g_pipe[1], &c, 1);
  }
  errno = saved;
}

}  // namespace

SignalStop::SignalStop(Engine& engine) {
  if (g_pipe[0] < 0 && ::pipe(g_pipe) != 0) g_pipe[0] = g_pipe[1] = -1;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  if (g_pipe[0] < 0) return;  // no pipe: the flag alone (checked at each step)
  watcher_ = std::thread([&engine] {
    for (;;) {
      char c = 0;
      const auto n = ::read(g_pipe[0], &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || c == 'q') return;
      engine.cancel();
    }
  });
  if (g_requested.load()) engine.cancel();
}

SignalStop::~SignalStop() {
  if (!watcher_.joinable()) return;
  const char c = 'q';
  [[maybe_unused]] const auto n = ::write(g_pipe[1], &c, 1);
  watcher_.join();
}

bool SignalStop::requested() { return g_requested.load(); }

const char* SignalStop::signal_name() {
  const int s = g_signal.load();
  return s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : "";
}

std::string clock_text(double seconds) {
  const long s = seconds > 0 ? std::lround(seconds) : 0;
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string bar_text(double fraction, int width) {
  const int filled = std::isfinite(fraction) ? static_cast<int>(std::clamp(fraction, 0.0, 1.0) * width) : 0;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '.') + "]";
}

double eta_seconds(double start, double now, double done) {
  if (!(done > 0) || now <= start) return -1;
  return (now - start) * (1.0 - std::min(done, 1.0)) / done;
}

void BarLine::show(const std::string& text) {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
  open_ = true;
}

void BarLine::message(const std::string& line) {
  if (enabled_ && open_) std::fputs("\r\033[K", stderr);
  std::fprintf(stderr, "%s\n", line.c_str());
  open_ = false;
}

void BarLine::close() {
  if (enabled_ && open_) std::fputs("\r\033[K", stderr);
  open_ = false;
}

void BarLine::end() {
  if (enabled_ && open_) std::fputs("\n", stderr);
  open_ = false;
}

std::string load_line(const LoadProgress& p) {
  return "gen: loading " + p.what + (p.path.empty() ? std::string() : " from " + p.path);
}

}  // namespace gen::cli
