// gen — the request tables at work: one Field per row of GEN_REQUEST_FIELDS /
// GEN_CONTROL_FIELDS (include/gen/request.hpp), each knowing how to read and write its
// member as JSON and as CLI text and how to check it. Validation, JSON in and out, the
// public FieldInfo list and the infotext are loops over these rows.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "gen/request.hpp"

namespace gen::request {

template <class S>  // Request or ControlRequest
struct Field {
  FieldInfo info;
  std::function<nlohmann::json(const S&)> to_json;
  // Type-checked; `subject` names the document ("job line 3").
  std::function<void(S&, const nlohmann::json&, const std::string& subject)> from_json;
  // CLI text ("512", "euler_a"); `subject` names the option.
  std::function<void(S&, const std::string& text, const std::string& subject)> parse;
  // Range and multiple; `where` is the field's path ("controls[0].scale").
  std::function<void(const S&, const std::string& where)> check;
  std::function<std::string(const S&)> text;
};

const std::vector<Field<Request>>& request_table();
const std::vector<Field<ControlRequest>>& control_table();
const std::vector<Field<AdapterRequest>>& adapter_table();

// The row named `name`, or nullptr.
template <class S>
const Field<S>* find_field(const std::vector<Field<S>>& table, const std::string& name) {
  for (const auto& f : table)
    if (f.info.name == name) return &f;
  return nullptr;
}

}  // namespace gen::request
