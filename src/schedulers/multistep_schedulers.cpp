// gen — the exponential-integrator multistep solvers on data prediction (x0): DPM-Solver++ 2M,
// its SDE variant, and UniPC (predictor + corrector, bh1/bh2). The sample is at scale 1
// (x_t = alpha_t x0 + sigma_t eps); the noise level sigma = sigma_t / alpha_t.
#include <array>
#include <cmath>

#include <ATen/ATen.h>

#include "core/fail.hpp"
#include "schedulers/scheduler.hpp"

namespace gen::sched {
namespace {

struct Level {
  double alpha, sigma, lambda;  // alpha_t, sigma_t and log(alpha_t / sigma_t)
};

class MultistepScheduler : public Scheduler {
 protected:
  MultistepScheduler(std::string name, const SchedulerConfig& c, int steps)
      : Scheduler(std::move(name), c, steps) {
    const auto spacing = c.timestep_spacing.value_or(TimestepSpacing::Linspace);
    std::vector<double> ts = multistep_timesteps(spacing, c.num_train_timesteps, steps, c.steps_offset);
    const auto train = train_sigmas(alphas_cumprod(c));
    std::vector<double> sig;
    if (c.use_karras_sigmas) {
      // From the whole training range (unlike Euler's, which starts from the spaced sigmas);
      // the model is fed the nearest integer timestep.
      sig = karras_sigmas(train.front(), train.back(), steps);
      const auto logs = log_of(train);
      ts.clear();
      for (double s : sig) ts.push_back(std::nearbyint(sigma_to_t(s, logs)));
    } else {
      for (double t : ts) sig.push_back(interp_sigma(train, t));
    }
    timesteps_ = ts;
    for (double s : sig) sigmas_.push_back(static_cast<float>(s));
    sigmas_.push_back(0.0f);  // final_sigmas_type "zero"
    init_noise_sigma_ = 1.0;
  }

  Level level(int64_t k) const {
    const double s = sigmas_[static_cast<size_t>(k)];
    const double alpha = 1 / std::sqrt(s * s + 1);
    const double sigma = s * alpha;
    return {alpha, sigma, std::log(alpha) - std::log(sigma)};
  }

  // The model output converted to a data prediction x0 at model call i.
  at::Tensor to_x0(const at::Tensor& out, const at::Tensor& sample, int64_t i) const {
    const Level l = level(i);
    if (config_.prediction_type == Prediction::Epsilon) return (sample - l.sigma * out) / l.alpha;
    return l.alpha * sample - l.sigma * out;
  }

  // Keeps the last `order` converted outputs, oldest first.
  void remember(const at::Tensor& x0, int order) {
    history_.push_back(x0);
    while (static_cast<int>(history_.size()) > order) history_.erase(history_.begin());
  }
  const at::Tensor& recent(int back) const { return history_[history_.size() - 1 - back]; }

  void reset_history() {
    history_.clear();
    lower_order_nums_ = 0;
  }

  std::vector<at::Tensor> history_;
  int lower_order_nums_ = 0;

 public:
  // diffusers: alpha_t·x + sigma_t·noise at sigmas[index] (alpha_t = 1/sqrt(sigma²+1)).
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, int64_t index) const override {
    check_noise_index(index);
    const float s = sigmas_[static_cast<size_t>(index)];
    const float alpha = 1.0f / std::sqrt(s * s + 1.0f);
    return original * static_cast<double>(alpha) + noise * static_cast<double>(s * alpha);
  }
  NoiseLevel noise_level(int64_t i) const override {
    const Level l = level(i);
    return {1.0, l.alpha, l.sigma};
  }
};

// ---------------------------------------------------------------------------------------------
// DPM-Solver++ 2M (multistep, midpoint) and DPM-Solver++ 2M SDE.
class DpmSolver2M final : public MultistepScheduler {
 public:
  DpmSolver2M(const SchedulerConfig& c, int steps, bool sde)
      : MultistepScheduler(sde ? "dpmpp_2m_sde" : "dpmpp_2m", c, steps), sde_(sde) {}
  bool stochastic() const noexcept override { return sde_; }

 protected:
  void do_reset() override { reset_history(); }

  at::Tensor do_step(const at::Tensor& out, int64_t i, const at::Tensor& sample, at::Generator* gen) override {
    // With final sigma 0, the last step is always first order.
    const bool last = i == size() - 1;
    at::Tensor x0 = to_x0(out, sample, i);
    remember(x0, 2);
    at::Tensor noise;
    if (sde_) noise = draw_noise(out, at::kFloat, gen);
    at::Tensor prev;
    const Level t = level(i + 1), s0 = level(i);
    const double h = t.lambda - s0.lambda;
    if (lower_order_nums_ < 1 || last) {
      if (!sde_) {
        prev = (t.sigma / s0.sigma) * sample - (t.alpha * (std::exp(-h) - 1.0)) * x0;
      } else {
        prev = (t.sigma / s0.sigma * std::exp(-h)) * sample + (t.alpha * (1 - std::exp(-2.0 * h))) * x0 +
               (t.sigma * std::sqrt(1.0 - std::exp(-2 * h))) * noise;
      }
    } else {
      const Level s1 = level(i - 1);
      const at::Tensor& m0 = recent(0);
      const at::Tensor& m1 = recent(1);
      const double r0 = (s0.lambda - s1.lambda) / h;
      at::Tensor d1 = (1.0 / r0) * (m0 - m1);
      if (!sde_) {
        prev = (t.sigma / s0.sigma) * sample - (t.alpha * (std::exp(-h) - 1.0)) * m0 -
               (0.5 * (t.alpha * (std::exp(-h) - 1.0))) * d1;
      } else {
        prev = (t.sigma / s0.sigma * std::exp(-h)) * sample + (t.alpha * (1 - std::exp(-2.0 * h))) * m0 +
               (0.5 * (t.alpha * (1 - std::exp(-2.0 * h)))) * d1 +
               (t.sigma * std::sqrt(1.0 - std::exp(-2 * h))) * noise;
      }
    }
    if (lower_order_nums_ < 2) ++lower_order_nums_;
    return prev;
  }

 private:
  bool sde_;
};

// ---------------------------------------------------------------------------------------------
// UniPC (Zhao et al. 2023): a unified predictor (UniP) and corrector (UniC) of order up to 3,
// on data prediction, with B(h) = h (bh1) or expm1(h) (bh2).
class UniPC final : public MultistepScheduler {
 public:
  UniPC(const SchedulerConfig& c, int steps) : MultistepScheduler("unipc", c, steps) {
    if (c.solver_order < 1 || c.solver_order > 3)
      fail(ErrorCode::InvalidArgument, name_, "solver_order must be 1, 2 or 3");
  }

 protected:
  void do_reset() override {
    reset_history();
    last_sample_ = at::Tensor();
    this_order_ = 0;
  }

  at::Tensor do_step(const at::Tensor& out, int64_t i, const at::Tensor& sample_in, at::Generator*) override {
    const int order = config_.solver_order;
    at::Tensor x0 = to_x0(out, sample_in, i);
    at::Tensor sample = sample_in;
    if (i > 0 && last_sample_.defined()) sample = correct(x0, last_sample_, sample_in, this_order_, i);
    remember(x0, order);
    int this_order = order;
    if (config_.lower_order_final) this_order = static_cast<int>(std::min<int64_t>(order, size() - i));
    this_order_ = std::min(this_order, lower_order_nums_ + 1);
    last_sample_ = sample;
    at::Tensor prev = predict(sample, this_order_, i);
    if (lower_order_nums_ < order) ++lower_order_nums_;
    return prev;
  }

 private:
  struct Coefficients {
    double h_phi_1 = 0, b_h = 0;
    std::vector<double> rks;               // r_k for k = 1..p-1, then 1
    std::vector<std::vector<double>> R;    // R[row][col] = rks[col]^row
    std::vector<double> b;
  };

  // The phi-function coefficients shared by the predictor and the corrector, with h the
  // log-SNR step and the previous levels `prev_lambdas` (k = 1..p-1).
  Coefficients coefficients(double h, double lambda_s0, const std::vector<double>& prev_lambdas, int p) const {
    Coefficients c;
    for (double l : prev_lambdas) c.rks.push_back((l - lambda_s0) / h);
    c.rks.push_back(1.0);
    const double hh = -h;  // predict_x0
    c.h_phi_1 = std::expm1(hh);
    double h_phi_k = c.h_phi_1 / hh - 1;
    double factorial = 1;
    c.b_h = config_.unipc_bh1 ? hh : std::expm1(hh);
    for (int k = 1; k <= p; ++k) {
      std::vector<double> row;
      for (double r : c.rks) row.push_back(std::pow(r, k - 1));
      c.R.push_back(row);
      c.b.push_back(h_phi_k * factorial / c.b_h);
      factorial *= k + 1;
      h_phi_k = h_phi_k / hh - 1 / factorial;
    }
    return c;
  }

  // Solves the n x n system A x = y (n <= 3) by Gaussian elimination with partial pivoting.
  static std::vector<double> solve(std::vector<std::vector<double>> A, std::vector<double> y, int n) {
    for (int col = 0; col < n; ++col) {
      int piv = col;
      for (int r = col + 1; r < n; ++r)
        if (std::fabs(A[r][col]) > std::fabs(A[piv][col])) piv = r;
      std::swap(A[col], A[piv]);
      std::swap(y[col], y[piv]);
      if (A[col][col] == 0) fail(ErrorCode::Internal, "unipc", "singular solver system");
      for (int r = col + 1; r < n; ++r) {
        const double f = A[r][col] / A[col][col];
        for (int k = col; k < n; ++k) A[r][k] -= f * A[col][k];
        y[r] -= f * y[col];
      }
    }
    std::vector<double> x(static_cast<size_t>(n));
    for (int r = n - 1; r >= 0; --r) {
      double acc = y[r];
      for (int k = r + 1; k < n; ++k) acc -= A[r][k] * x[k];
      x[r] = acc / A[r][r];
    }
    return x;
  }

  // UniP: from call i's sample to the next level, order p.
  at::Tensor predict(const at::Tensor& x, int p, int64_t i) const {
    const Level t = level(i + 1), s0 = level(i);
    const double h = t.lambda - s0.lambda;
    const at::Tensor& m0 = recent(0);
    std::vector<double> prev_lambdas;
    std::vector<at::Tensor> d1s;
    for (int k = 1; k < p; ++k) {
      const Level sk = level(i - k);
      prev_lambdas.push_back(sk.lambda);
    }
    Coefficients c = coefficients(h, s0.lambda, prev_lambdas, p);
    for (int k = 1; k < p; ++k) d1s.push_back((recent(k) - m0) / c.rks[k - 1]);
    at::Tensor x_t = (t.sigma / s0.sigma) * x - (t.alpha * c.h_phi_1) * m0;
    if (!d1s.empty()) {
      std::vector<double> rhos;
      if (p == 2) {
        rhos = {0.5};
      } else {
        std::vector<std::vector<double>> A(p - 1, std::vector<double>(p - 1));
        for (int r = 0; r < p - 1; ++r)
          for (int k = 0; k < p - 1; ++k) A[r][k] = c.R[r][k];
        rhos = solve(A, std::vector<double>(c.b.begin(), c.b.begin() + (p - 1)), p - 1);
      }
      at::Tensor res = rhos[0] * d1s[0];
      for (size_t k = 1; k < d1s.size(); ++k) res = res + rhos[k] * d1s[k];
      x_t = x_t - (t.alpha * c.b_h) * res;
    }
    return x_t;
  }

  // UniC: corrects `this_sample` (at call i) using its model output `model_t`, from the
  // previous call's sample `x`, order p.
  at::Tensor correct(const at::Tensor& model_t, const at::Tensor& x, const at::Tensor& this_sample, int p,
                     int64_t i) const {
    (void)this_sample;
    const Level t = level(i), s0 = level(i - 1);
    const double h = t.lambda - s0.lambda;
    const at::Tensor& m0 = recent(0);
    std::vector<double> prev_lambdas;
    for (int k = 1; k < p; ++k) prev_lambdas.push_back(level(i - (k + 1)).lambda);
    Coefficients c = coefficients(h, s0.lambda, prev_lambdas, p);
    std::vector<at::Tensor> d1s;
    for (int k = 1; k < p; ++k) d1s.push_back((recent(k) - m0) / c.rks[k - 1]);
    std::vector<double> rhos = p == 1 ? std::vector<double>{0.5} : solve(c.R, c.b, p);
    at::Tensor x_t = (t.sigma / s0.sigma) * x - (t.alpha * c.h_phi_1) * m0;
    at::Tensor d1_t = model_t - m0;
    at::Tensor corr = rhos.back() * d1_t;
    if (!d1s.empty()) {
      at::Tensor res = rhos[0] * d1s[0];
      for (size_t k = 1; k < d1s.size(); ++k) res = res + rhos[k] * d1s[k];
      corr = res + corr;
    }
    return x_t - (t.alpha * c.b_h) * corr;
  }

  at::Tensor last_sample_;
  int this_order_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpmpp_2m(const SchedulerConfig& c, int steps, bool sde) {
  return std::make_unique<DpmSolver2M>(c, steps, sde);
}
std::unique_ptr<Scheduler> make_unipc(const SchedulerConfig& c, int steps) { return std::make_unique<UniPC>(c, steps); }

}  // namespace gen::sched
