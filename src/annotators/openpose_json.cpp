// gen — poses as OpenPose JSON (people[].pose_keypoints_2d / hand_left_keypoints_2d /
// hand_right_keypoints_2d / face_keypoints_2d, canvas_width / canvas_height). controlnet-aux
// 0.0.10 writes no JSON; the layout is OpenPose's and the ControlNet WebUI extension's (which
// writes normalised coordinates, confidence 1, missing points as 0, 0, 0).
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/fail.hpp"
#include "core/json.hpp"
#include "gen/pose.hpp"

namespace gen {
namespace {

using nlohmann::json;

json points(const std::vector<PosePoint>& v) {
  if (v.empty()) return nullptr;
  json a = json::array();
  for (const auto& p : v) {
    // Hand / face points the detector marks as not found (negative) are written as missing.
    if (p.present && p.x >= 0 && p.y >= 0) {
      a.push_back(p.x);
      a.push_back(p.y);
      a.push_back(1.0);
    } else {
      a.push_back(0.0);
      a.push_back(0.0);
      a.push_back(0.0);
    }
  }
  return a;
}

}  // namespace

std::string poses_to_json(const Poses& poses) {
  json people = json::array();
  for (const auto& p : poses.people)
    people.push_back({{"pose_keypoints_2d", points(p.body)},
                      {"face_keypoints_2d", points(p.face)},
                      {"hand_left_keypoints_2d", points(p.left_hand)},
                      {"hand_right_keypoints_2d", points(p.right_hand)}});
  json doc = {{"people", people}, {"canvas_width", poses.width}, {"canvas_height", poses.height}};
  return doc.dump(1) + "\n";
}

Poses poses_from_json(const std::string& text, const std::string& subject) {
  const json doc = core::parse_json(text, subject);
  auto bad = [&](const std::string& where, const std::string& what) {
    fail(ErrorCode::InvalidFormat, subject, where + ": " + what);
  };
  if (!doc.is_object()) bad("the document", "not a JSON object");
  Poses out;
  for (const char* key : {"canvas_width", "canvas_height"}) {
    const auto it = doc.find(key);
    if (it == doc.end() || !it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > kMaxImageSide)
      bad(key, "missing or not a whole number of pixels between 1 and 65535");
    (std::string(key) == "canvas_width" ? out.width : out.height) = static_cast<int>(it->get<long long>());
  }
  const auto people = doc.find("people");
  if (people == doc.end() || !people->is_array()) bad("people", "missing or not an array");
  // First pass: are the coordinates normalised (all within 0..1) or pixels?
  bool pixels = false;
  struct Field {
    const char* key;
    std::size_t min, max;
  };
  const Field fields[] = {{"pose_keypoints_2d", 18, 18},
                          {"hand_left_keypoints_2d", 21, 21},
                          {"hand_right_keypoints_2d", 21, 21},
                          {"face_keypoints_2d", 1, 71}};
  for (std::size_t i = 0; i < people->size(); ++i) {
    const json& p = (*people)[i];
    const std::string where = "people[" + std::to_string(i) + "]";
    if (!p.is_object()) bad(where, "not an object");
    for (const auto& f : fields) {
      const auto it = p.find(f.key);
      if (it == p.end() || it->is_null()) continue;
      const std::string w = where + "." + f.key;
      if (!it->is_array()) bad(w, "not an array of numbers");
      if (it->size() % 3 || it->size() / 3 < f.min || it->size() / 3 > f.max)
        bad(w, std::to_string(it->size()) + " numbers; expected x, y, confidence for " +
                   (f.min == f.max ? std::to_string(f.min) : "1 to " + std::to_string(f.max)) + " points");
      for (std::size_t k = 0; k < it->size(); ++k) {
        if (!(*it)[k].is_number() || !std::isfinite((*it)[k].get<double>()))
          bad(w + "[" + std::to_string(k) + "]", "not a finite number");
        if (k % 3 != 2 && (*it)[k].get<double>() > 1.0 && (*it)[k + 2 - k % 3].get<double>() > 0) pixels = true;
      }
    }
  }
  for (std::size_t i = 0; i < people->size(); ++i) {
    const json& p = (*people)[i];
    PosePerson person;
    for (const auto& f : fields) {
      std::vector<PosePoint>* dst = f.key[0] == 'p' ? &person.body
                                    : f.key[0] == 'f' ? &person.face
                                    : f.key[5] == 'l' ? &person.left_hand
                                                      : &person.right_hand;
      const auto it = p.find(f.key);
      if (it == p.end() || it->is_null()) {
        if (dst == &person.body) dst->assign(18, PosePoint{});
        continue;
      }
      for (std::size_t k = 0; k + 2 < it->size(); k += 3) {
        double x = (*it)[k].get<double>(), y = (*it)[k + 1].get<double>();
        const double c = (*it)[k + 2].get<double>();
        PosePoint pt;
        if (c > 0) {
          const std::string w = "people[" + std::to_string(i) + "]." + f.key + " point " + std::to_string(k / 3);
          const double mx = pixels ? out.width : 1.0, my = pixels ? out.height : 1.0;
          if (x < 0 || y < 0 || x > mx || y > my)
            bad(w, "(" + json(x).dump() + ", " + json(y).dump() + ") is outside the canvas (" +
                       (pixels ? std::to_string(out.width) + " x " + std::to_string(out.height) + " pixels"
                               : std::string("0..1 normalised")) + ")");
          if (pixels) {
            x /= out.width;
            y /= out.height;
          }
          pt = {x, y, true};
        }
        dst->push_back(pt);
      }
    }
    out.people.push_back(std::move(person));
  }
  return out;
}

}  // namespace gen
