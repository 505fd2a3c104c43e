#include "annotators/openpose_post.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>

namespace gen::annotators {
namespace {

double pairwise(const double* a, long n) {
  if (n < 8) {
    double res = 0.;
    for (long i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    long i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  long n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

// scipy's "reflect" extension: d c b a | a b c d | d c b a
long reflect(long i, long n) {
  if (n == 1) return 0;
  const long period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

}  // namespace

double numpy_sum(const double* v, long n) {
  if (n <= 0) return 0.;
  // add.reduce starts from the first element and adds the pairwise sum of the rest.
  return v[0] + pairwise(v + 1, n - 1);
}

std::vector<double> gaussian_filter(const std::vector<double>& x, int rows, int cols, double sigma) {
  const long radius = static_cast<long>(4.0 * sigma + 0.5);
  const double coef = -0.5 / (sigma * sigma);
  std::vector<double> w(2 * radius + 1);
  for (long i = -radius; i <= radius; ++i) w[i + radius] = std::exp(coef * static_cast<double>(i * i));
  const double total = numpy_sum(w.data(), static_cast<long>(w.size()));
  for (auto& v : w) v = v / total;
  const double* fw = w.data() + radius;  // fw[-radius..radius]

  auto pass = [&](const std::vector<double>& in, bool along_rows) {
    std::vector<double> out(in.size());
    const long n = along_rows ? rows : cols;
    const long lines = along_rows ? cols : rows;
    std::vector<double> ext(n + 2 * radius);
    for (long l = 0; l < lines; ++l) {
      auto at = [&](long i) -> double {
        return along_rows ? in[static_cast<std::size_t>(i * cols + l)] : in[static_cast<std::size_t>(l * cols + i)];
      };
      for (long i = -radius; i < n + radius; ++i) ext[i + radius] = at(reflect(i, n));
      for (long i = 0; i < n; ++i) {
        const double* line = ext.data() + radius + i;
        double v = line[0] * fw[0];
        for (long j = -radius; j < 0; ++j) v += (line[j] + line[-j]) * fw[j];
        if (along_rows) out[static_cast<std::size_t>(i * cols + l)] = v;
        else out[static_cast<std::size_t>(l * cols + i)] = v;
      }
    }
    return out;
  };
  return pass(pass(x, true), false);
}

namespace {

struct Peak {
  long x, y;
  double score;
  long id;
};

struct Connection {
  double a, b, s, i, j;  // candidate ids of both ends, score, indices in candA / candB
};

}  // namespace

BodyFound body_from_maps(const std::vector<double>& heat, const std::vector<double>& paf, int height, int width) {
  const std::size_t plane = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  const double thre1 = 0.1, thre2 = 0.05;
  std::vector<std::vector<Peak>> all_peaks;
  long counter = 0;
  for (int part = 0; part < 18; ++part) {
    const std::vector<double> ori(heat.begin() + part * plane, heat.begin() + (part + 1) * plane);
    const auto g = gaussian_filter(ori, height, width, 3.0);
    auto v = [&](long y, long x) { return g[static_cast<std::size_t>(y * width + x)]; };
    std::vector<Peak> peaks;
    for (long y = 0; y < height; ++y)
      for (long x = 0; x < width; ++x) {
        const double c = v(y, x);
        const double up = y > 0 ? v(y - 1, x) : 0.0, down = y + 1 < height ? v(y + 1, x) : 0.0;
        const double left = x > 0 ? v(y, x - 1) : 0.0, right = x + 1 < width ? v(y, x + 1) : 0.0;
        if (c >= up && c >= down && c >= left && c >= right && c > thre1)
          peaks.push_back({x, y, ori[static_cast<std::size_t>(y * width + x)], counter + static_cast<long>(peaks.size())});
      }
    counter += static_cast<long>(peaks.size());
    all_peaks.push_back(std::move(peaks));
  }

  std::vector<std::vector<Connection>> connection_all(19);
  std::vector<bool> special(19, false);
  const int mid_num = 10;
  for (int k = 0; k < 19; ++k) {
    const double* mx = paf.data() + (kMapIdx[k][0] - 19) * plane;
    const double* my = paf.data() + (kMapIdx[k][1] - 19) * plane;
    const auto& A = all_peaks[kLimbSeq[k][0] - 1];
    const auto& B = all_peaks[kLimbSeq[k][1] - 1];
    if (A.empty() || B.empty()) {
      special[k] = true;
      continue;
    }
    struct Cand {
      std::size_t i, j;
      double s, total;
    };
    std::vector<Cand> cands;
    for (std::size_t i = 0; i < A.size(); ++i)
      for (std::size_t j = 0; j < B.size(); ++j) {
        const long dx = B[j].x - A[i].x, dy = B[j].y - A[i].y;
        double norm = std::sqrt(static_cast<double>(dx * dx + dy * dy));
        norm = std::max(0.001, norm);
        const double vx = static_cast<double>(dx) / norm, vy = static_cast<double>(dy) / norm;
        // np.linspace(a, b, 10): i * step + a, the last point exactly b
        auto lin = [&](double a, double b, int i) {
          if (i == mid_num - 1) return b;
          const double step = (b - a) / (mid_num - 1);
          if (step == 0) return (static_cast<double>(i) / (mid_num - 1)) * (b - a) + a;
          return static_cast<double>(i) * step + a;
        };
        double sum = 0;
        int over = 0;
        for (int s = 0; s < mid_num; ++s) {
          const double px = lin(static_cast<double>(A[i].x), static_cast<double>(B[j].x), s);
          const double py = lin(static_cast<double>(A[i].y), static_cast<double>(B[j].y), s);
          const auto idx = static_cast<std::size_t>(static_cast<long>(std::nearbyint(py)) * width +
                                                    static_cast<long>(std::nearbyint(px)));
          const double score = mx[idx] * vx + my[idx] * vy;
          sum += score;
          if (score > thre2) ++over;
        }
        const double with_prior = sum / mid_num + std::min(0.5 * height / norm - 1, 0.0);
        if (over > 0.8 * mid_num && with_prior > 0)
          cands.push_back({i, j, with_prior, with_prior + A[i].score + B[j].score});
      }
    std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) { return a.s > b.s; });
    auto& conn = connection_all[k];
    for (const auto& c : cands) {
      const bool used = std::any_of(conn.begin(), conn.end(), [&](const Connection& x) {
        return x.i == static_cast<double>(c.i) || x.j == static_cast<double>(c.j);
      });
      if (used) continue;
      conn.push_back({static_cast<double>(A[c.i].id), static_cast<double>(B[c.j].id), c.s,
                      static_cast<double>(c.i), static_cast<double>(c.j)});
      if (conn.size() >= std::min(A.size(), B.size())) break;
    }
  }

  BodyFound out;
  for (const auto& peaks : all_peaks)
    for (const auto& p : peaks)
      out.candidates.push_back({static_cast<double>(p.x), static_cast<double>(p.y), p.score, static_cast<double>(p.id)});
  auto cscore = [&](double id) { return out.candidates[static_cast<std::size_t>(id)].score; };

  std::vector<std::array<double, 20>> subset;
  for (int k = 0; k < 19; ++k) {
    if (special[k]) continue;
    const int ia = kLimbSeq[k][0] - 1, ib = kLimbSeq[k][1] - 1;
    for (const auto& c : connection_all[k]) {
      int found = 0;
      std::size_t idx[2] = {0, 0};
      for (std::size_t j = 0; j < subset.size(); ++j)
        if (subset[j][ia] == c.a || subset[j][ib] == c.b) {
          if (found < 2) idx[found] = j;
          ++found;
        }
      if (found == 1) {
        auto& r = subset[idx[0]];
        if (r[ib] != c.b) {
          r[ib] = c.b;
          r[19] += 1;
          r[18] += cscore(c.b) + c.s;
        }
      } else if (found == 2) {
        auto& r1 = subset[idx[0]];
        const auto& r2 = subset[idx[1]];
        bool overlap = false;
        for (int p = 0; p < 18; ++p) overlap |= (r1[p] >= 0) && (r2[p] >= 0);
        if (!overlap) {
          for (int p = 0; p < 18; ++p) r1[p] += r2[p] + 1;
          r1[18] += r2[18];
          r1[19] += r2[19];
          r1[18] += c.s;
          subset.erase(subset.begin() + static_cast<long>(idx[1]));
        } else {
          r1[ib] = c.b;
          r1[19] += 1;
          r1[18] += cscore(c.b) + c.s;
        }
      } else if (found == 0 && k < 17) {
        std::array<double, 20> row;
        row.fill(-1);
        row[ia] = c.a;
        row[ib] = c.b;
        row[19] = 2;
        row[18] = ((0 + cscore(c.a)) + cscore(c.b)) + c.s;
        subset.push_back(row);
      }
    }
  }
  for (const auto& r : subset)
    if (!(r[19] < 4 || r[18] / r[19] < 0.4)) out.people.push_back({r});
  return out;
}

std::vector<BodyKeypoints> body_keypoints(const BodyFound& found) {
  std::vector<BodyKeypoints> out;
  for (const auto& p : found.people) {
    BodyKeypoints k;
    for (int i = 0; i < 18; ++i) {
      const long idx = static_cast<long>(p.row[i]);
      if (idx != -1) {
        const auto& c = found.candidates[static_cast<std::size_t>(idx)];
        k[i] = std::array<double, 2>{c.x, c.y};
      }
    }
    out.push_back(k);
  }
  return out;
}

std::vector<HandBox> hand_boxes(const BodyKeypoints& kp, int height, int width) {
  const double ratio = 0.33;
  std::vector<HandBox> result;
  struct Arm {
    int s, e, w;
    bool left;
  };
  std::vector<Arm> arms;
  if (kp[5] && kp[6] && kp[7]) arms.push_back({5, 6, 7, true});
  if (kp[2] && kp[3] && kp[4]) arms.push_back({2, 3, 4, false});
  for (const auto& a : arms) {
    const double x1 = (*kp[a.s])[0], y1 = (*kp[a.s])[1], x2 = (*kp[a.e])[0], y2 = (*kp[a.e])[1];
    const double x3 = (*kp[a.w])[0], y3 = (*kp[a.w])[1];
    double x = x3 + ratio * (x3 - x2);
    double y = y3 + ratio * (y3 - y2);
    const double d_we = std::sqrt((x3 - x2) * (x3 - x2) + (y3 - y2) * (y3 - y2));
    const double d_es = std::sqrt((x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1));
    double w = 1.5 * std::max(d_we, 0.9 * d_es);
    x -= w / 2;
    y -= w / 2;
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    double w1 = w, w2 = w;
    if (x + w > width) w1 = width - x;
    if (y + w > height) w2 = height - y;
    w = std::min(w1, w2);
    if (w >= 20) result.push_back({static_cast<int>(x), static_cast<int>(y), static_cast<int>(w), a.left});
  }
  return result;
}

std::optional<std::array<int, 3>> face_box(const BodyKeypoints& kp, int height, int width) {
  if (!kp[0] || (!kp[14] && !kp[15] && !kp[16] && !kp[17])) return std::nullopt;
  double w = 0.0;
  const double x0 = (*kp[0])[0], y0 = (*kp[0])[1];
  for (int i = 14; i < 18; ++i)
    if (kp[i]) {
      const double d = std::max(std::abs(x0 - (*kp[i])[0]), std::abs(y0 - (*kp[i])[1]));
      w = std::max(w, d * (i < 16 ? 3.0 : 1.5));
    }
  double x = x0 - w, y = y0 - w;
  if (x < 0) x = 0;
  if (y < 0) y = 0;
  double w1 = w * 2, w2 = w * 2;
  if (x + w > width) w1 = width - x;
  if (y + w > height) w2 = height - y;
  w = std::min(w1, w2);
  if (w >= 20) return std::array<int, 3>{static_cast<int>(x), static_cast<int>(y), static_cast<int>(w)};
  return std::nullopt;
}

std::vector<std::array<int, 2>> hand_peaks(std::vector<double> heat, int crop_h, int crop_w) {
  const int n = 128;
  const std::size_t plane = static_cast<std::size_t>(n) * n;
  std::vector<std::array<int, 2>> out;
  for (int part = 0; part < 21; ++part) {
    double* ori = heat.data() + part * plane;
    const auto g = gaussian_filter(std::vector<double>(ori, ori + plane), n, n, 3.0);
    std::vector<int> label(plane, 0);
    bool any = false;
    for (std::size_t i = 0; i < plane; ++i) any |= g[i] > 0.05;
    if (!any) {
      out.push_back({0, 0});
      continue;
    }
    // 8-connected components, numbered in raster order of their first pixel (skimage.measure.label).
    int labels = 0;
    std::vector<std::size_t> stack;
    for (std::size_t s = 0; s < plane; ++s) {
      if (!(g[s] > 0.05) || label[s]) continue;
      label[s] = ++labels;
      stack.push_back(s);
      while (!stack.empty()) {
        const std::size_t p = stack.back();
        stack.pop_back();
        const int py = static_cast<int>(p / n), px = static_cast<int>(p % n);
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) {
            const int qy = py + dy, qx = px + dx;
            if (qy < 0 || qy >= n || qx < 0 || qx >= n) continue;
            const std::size_t q = static_cast<std::size_t>(qy) * n + qx;
            if (g[q] > 0.05 && !label[q]) {
              label[q] = labels;
              stack.push_back(q);
            }
          }
      }
    }
    std::vector<std::vector<double>> members(static_cast<std::size_t>(labels));
    for (std::size_t i = 0; i < plane; ++i)
      if (label[i]) members[static_cast<std::size_t>(label[i] - 1)].push_back(ori[i]);
    int best = 0;
    double best_sum = 0;
    for (int l = 0; l < labels; ++l) {
      const double s = numpy_sum(members[l].data(), static_cast<long>(members[l].size()));
      if (l == 0 || s > best_sum || (std::isnan(s) && !std::isnan(best_sum))) {
        best = l;
        best_sum = s;
      }
    }
    std::size_t arg = 0;
    double mx = 0;
    for (std::size_t i = 0; i < plane; ++i) {
      const double v = label[i] == best + 1 ? ori[i] : 0.0;
      if (i == 0 || v > mx) {
        mx = v;
        arg = i;
      }
    }
    const int y = static_cast<int>(static_cast<double>(arg / n) * static_cast<double>(crop_h) / n);
    const int x = static_cast<int>(static_cast<double>(arg % n) * static_cast<double>(crop_w) / n);
    out.push_back({x, y});
  }
  return out;
}

std::vector<std::array<int, 2>> face_peaks(const std::vector<float>& maps, int channels, int height, int width) {
  const std::size_t plane = static_cast<std::size_t>(height) * width;
  std::vector<std::array<int, 2>> out;
  for (int c = 0; c < channels; ++c) {
    const float* m = maps.data() + c * plane;
    std::size_t arg = plane;
    for (std::size_t i = 0; i < plane; ++i)
      if (m[i] > 0.05f && (arg == plane || m[i] > m[arg])) arg = i;
    if (arg == plane) continue;
    out.push_back({static_cast<int>(arg % width), static_cast<int>(arg / width)});
  }
  return out;
}

}  // namespace gen::annotators
