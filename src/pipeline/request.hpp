// gen — the request's JSON form inside the library (the struct is public: gen/request.hpp).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "gen/request.hpp"

namespace gen::pipeline {

using gen::ControlRequest;
using gen::Request;

nlohmann::json request_to_json(const Request& r);
// Strict: unknown keys, wrong types and bad values are refused, naming `subject`.
Request request_from_json(const nlohmann::json& j, const std::string& subject);

}  // namespace gen::pipeline
