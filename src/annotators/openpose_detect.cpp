#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>

#include "annotators/openpose.hpp"
#include "annotators/annotator_util.hpp"
#include "core/fail.hpp"

namespace gen::annotators {
namespace {

// util.smart_resize for one 2-D plane or a 3-channel image: area when shrinking, Lanczos otherwise.
cv::Mat smart_resize(const cv::Mat& x, double ht, double wt) {
  const double k = (ht + wt) / static_cast<double>(x.rows + x.cols);
  cv::Mat out;
  cv::resize(x, out, cv::Size(static_cast<int>(wt), static_cast<int>(ht)), 0, 0,
             k < 1 ? cv::INTER_AREA : cv::INTER_LANCZOS4);
  return out;
}

// padRightDownCorner: bottom / right to a multiple of 8 with 128.
cv::Mat pad8(const cv::Mat& img, int& pad_down, int& pad_right) {
  pad_down = img.rows % 8 == 0 ? 0 : 8 - img.rows % 8;
  pad_right = img.cols % 8 == 0 ? 0 : 8 - img.cols % 8;
  cv::Mat out;
  cv::copyMakeBorder(img, out, 0, pad_down, 0, pad_right, cv::BORDER_CONSTANT, cv::Scalar(128, 128, 128));
  return out;
}

// Network maps [1, C, h, w] → C planes upscaled ×8 (Lanczos), cropped to crop_h × crop_w, resized to out_h × out_w.
std::vector<cv::Mat> upscale_maps(const at::Tensor& maps, int crop_h, int crop_w, int out_h, int out_w) {
  const at::Tensor m = maps.to(at::kCPU, at::kFloat).contiguous();
  const int c = static_cast<int>(m.size(1)), h = static_cast<int>(m.size(2)), w = static_cast<int>(m.size(3));
  std::vector<cv::Mat> out;
  for (int i = 0; i < c; ++i) {
    cv::Mat plane(h, w, CV_32F, m.data_ptr<float>() + static_cast<std::size_t>(i) * h * w);
    cv::Mat up = smart_resize(plane, h * 8.0, w * 8.0);
    cv::Mat crop = up(cv::Rect(0, 0, crop_w, crop_h)).clone();
    out.push_back(smart_resize(crop, out_h, out_w));
  }
  return out;
}

cv::Mat bgr_of(const Image& rgb) {
  cv::Mat m(rgb.height, rgb.width, CV_8UC3);
  for (std::size_t i = 0; i < static_cast<std::size_t>(rgb.width) * rgb.height; ++i) {
    m.data[3 * i] = rgb.data8[3 * i + 2];
    m.data[3 * i + 1] = rgb.data8[3 * i + 1];
    m.data[3 * i + 2] = rgb.data8[3 * i];
  }
  return m;
}

}  // namespace

at::Tensor openpose_input(const unsigned char* bgr, int height, int width) {
  at::Tensor t = at::from_blob(const_cast<unsigned char*>(bgr), {height, width, 3}, at::kByte).to(at::kFloat);
  return (t / 256.0f - 0.5f).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

void body_maps(const OpenposeBodyNet& net, c10::Device device, const unsigned char* bgr, int height, int width,
               std::vector<double>& heat, std::vector<double>& paf) {
  const cv::Mat img(height, width, CV_8UC3, const_cast<unsigned char*>(bgr));
  const double scale = 0.5 * 368 / height;
  const cv::Mat small = smart_resize(img, height * scale, width * scale);
  int pd = 0, pr = 0;
  const cv::Mat padded = pad8(small, pd, pr);
  at::Tensor x = openpose_input(padded.data, padded.rows, padded.cols).to(device);
  at::Tensor l1, l2;
  {
    c10::InferenceMode inference;
    std::tie(l1, l2) = net.forward(x);
  }
  auto fill = [&](const at::Tensor& maps, std::vector<double>& dst) {
    const auto planes = upscale_maps(maps, padded.rows - pd, padded.cols - pr, height, width);
    dst.assign(planes.size() * static_cast<std::size_t>(height) * width, 0.0);
    for (std::size_t c = 0; c < planes.size(); ++c)
      for (int y = 0; y < height; ++y)
        for (int xx = 0; xx < width; ++xx)
          dst[(c * height + y) * width + xx] = static_cast<double>(planes[c].at<float>(y, xx));
  };
  fill(l2, heat);
  fill(l1, paf);
}

std::vector<double> hand_maps(const OpenposeCpmNet& net, c10::Device device, const unsigned char* bgr, int height,
                              int width) {
  const cv::Mat crop(height, width, CV_8UC3, const_cast<unsigned char*>(bgr));
  cv::Mat blurred;
  cv::GaussianBlur(crop, blurred, cv::Size(0, 0), 0.8);
  std::vector<double> avg(static_cast<std::size_t>(22) * 128 * 128, 0.0);
  c10::InferenceMode inference;
  for (double s : {0.5 * 368, 1.0 * 368, 1.5 * 368, 2.0 * 368}) {
    const cv::Mat sized = smart_resize(blurred, s, s);
    int pd = 0, pr = 0;
    const cv::Mat padded = pad8(sized, pd, pr);
    const at::Tensor out = net.forward(openpose_input(padded.data, padded.rows, padded.cols).to(device));
    const auto planes = upscale_maps(out, padded.rows - pd, padded.cols - pr, 128, 128);
    for (std::size_t c = 0; c < planes.size(); ++c)
      for (int y = 0; y < 128; ++y)
        for (int x = 0; x < 128; ++x) avg[(c * 128 + y) * 128 + x] += static_cast<double>(planes[c].at<float>(y, x) / 4.0f);
  }
  return avg;
}

std::vector<float> face_maps(const OpenposeCpmNet& net, c10::Device device, const unsigned char* bgr, int height,
                             int width) {
  const cv::Mat crop(height, width, CV_8UC3, const_cast<unsigned char*>(bgr));
  const cv::Mat sized = smart_resize(crop, 384, 384);
  c10::InferenceMode inference;
  const at::Tensor maps = net.forward(openpose_input(sized.data, 384, 384).to(device));
  const at::Tensor up = at::upsample_bilinear2d(maps, {height, width}, /*align_corners=*/true)
                            .to(at::kCPU, at::kFloat).contiguous();
  return std::vector<float>(up.data_ptr<float>(), up.data_ptr<float>() + up.numel());
}

OpenposeNets load_openpose(const PoseModelFiles& files, c10::Device device) {
  OpenposeNets n;
  n.device = device;
  n.body = load_openpose_body(files.body, device);
  if (!files.hand.empty()) n.hand = load_openpose_hand(files.hand, device);
  if (!files.face.empty()) n.face = load_openpose_face(files.face, device);
  return n;
}

Poses detect(const OpenposeNets& nets, const Image& rgb_in, const PoseOptions& options) {
  if (options.hand && !nets.hand) fail(ErrorCode::InvalidArgument, "--hand", "hand detection needs hand_pose_model.pth");
  if (options.face && !nets.face) fail(ErrorCode::InvalidArgument, "--face", "face detection needs facenet.pth");
  const Image rgb = to_rgb8(rgb_in);
  const int H = rgb.height, W = rgb.width;
  const cv::Mat img = bgr_of(rgb);
  std::vector<double> heat, paf;
  body_maps(*nets.body, nets.device, img.data, H, W, heat, paf);
  const BodyFound found = body_from_maps(heat, paf, H, W);
  const auto bodies = body_keypoints(found);

  Poses out;
  out.width = W;
  out.height = H;
  c10::InferenceMode inference;
  for (std::size_t b = 0; b < bodies.size(); ++b) {
    const auto& kp = bodies[b];
    PosePerson p;
    for (const auto& k : kp)
      p.body.push_back(k ? PosePoint{(*k)[0] / static_cast<double>(W), (*k)[1] / static_cast<double>(H), true}
                         : PosePoint{});
    p.total_score = found.people[b].row[18];
    p.total_parts = found.people[b].row[19];
    auto to_points = [&](const std::vector<std::array<int, 2>>& peaks, int x0, int y0) {
      std::vector<PosePoint> v;
      for (const auto& q : peaks) {
        const float fx = q[0] < 1e-6f ? -1.0f : static_cast<float>(q[0]) + static_cast<float>(x0);
        const float fy = q[1] < 1e-6f ? -1.0f : static_cast<float>(q[1]) + static_cast<float>(y0);
        v.push_back({static_cast<double>(fx / static_cast<float>(W)), static_cast<double>(fy / static_cast<float>(H)), true});
      }
      return v;
    };
    if (options.hand) {
      for (const auto& box : hand_boxes(kp, H, W)) {
        const cv::Mat crop = img(cv::Rect(box.x, box.y, std::min(box.w, W - box.x), std::min(box.w, H - box.y)));
        const cv::Mat cont = crop.clone();
        auto avg = hand_maps(*nets.hand, nets.device, cont.data, cont.rows, cont.cols);
        auto pts = to_points(hand_peaks(std::move(avg), crop.rows, crop.cols), box.x, box.y);
        (box.left ? p.left_hand : p.right_hand) = std::move(pts);
      }
    }
    if (options.face) {
      if (const auto fb = face_box(kp, H, W)) {
        const int x = (*fb)[0], y = (*fb)[1], w = (*fb)[2];
        const cv::Mat crop = img(cv::Rect(x, y, std::min(w, W - x), std::min(w, H - y)));
        const cv::Mat cont = crop.clone();
        const auto planes = face_maps(*nets.face, nets.device, cont.data, cont.rows, cont.cols);
        const auto peaks = face_peaks(planes, 71, crop.rows, crop.cols);
        if (!peaks.empty()) p.face = to_points(peaks, x, y);
      }
    }
    out.people.push_back(std::move(p));
  }
  return out;
}

}  // namespace gen::annotators

namespace gen {

PoseOptions pose_preset(const std::string& name) {
  PoseOptions o;
  if (name == "openpose") return o;
  if (name == "openpose_hand") o.hand = true;
  else if (name == "openpose_face") o.face = true;
  else if (name == "openpose_full") o.hand = o.face = true;
  else fail(ErrorCode::InvalidArgument, name, "unknown pose preset (openpose, openpose_hand, openpose_face, openpose_full)");
  return o;
}

Poses detect_poses(const PoseModelFiles& files, const Image& rgb, const PoseOptions& options) {
  if (files.body.empty()) fail(ErrorCode::InvalidArgument, "--body", "the body pose model (body_pose_model.pth) is needed");
  if (options.hand && files.hand.empty())
    fail(ErrorCode::InvalidArgument, "--hand", "hand detection needs the hand pose model (hand_pose_model.pth)");
  if (options.face && files.face.empty())
    fail(ErrorCode::InvalidArgument, "--face", "face detection needs the face model (facenet.pth)");
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(options.device);
  } catch (const std::exception&) {
    fail(ErrorCode::InvalidArgument, "--device", options.device + ": not a device (cpu, cuda, cuda:N)");
  }
  PoseModelFiles used = files;
  if (!options.hand) used.hand.clear();
  if (!options.face) used.face.clear();
  const auto nets = annotators::load_openpose(used, device);
  return annotators::detect(nets, rgb, options);
}

Image resize_for_detection(const Image& image, int resolution) {
  if (resolution < 64 || resolution > 16384)
    fail(ErrorCode::InvalidArgument, "--detect-resolution", std::to_string(resolution) + ": must be 64..16384");
  const Image rgb = to_rgb8(image);
  annotators::check_detect_size(rgb.width, rgb.height, resolution, "--detect-resolution");
  return annotators::to_image(annotators::resize_image(annotators::to_mat(rgb), resolution));
}

}  // namespace gen
