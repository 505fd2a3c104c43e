// gen info IMAGE: the generation parameters stored in a PNG.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "core/fail.hpp"
#include "core/json.hpp"
#include "gen/image.hpp"

namespace gen::cli {

Command register_info(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Print the generation parameters stored in an image");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  sub->add_option("IMAGE", *path, "A PNG written by gen (or A1111)")->required();
  sub->add_flag("--json", *json, "Print the gen request as JSON only");
  return {sub, [path, json] {
            auto text = read_png_text(*path);
            auto params = text.find("parameters");
            auto req = text.find("gen");
            if (params == text.end() && req == text.end())
              fail(ErrorCode::NotFound, *path, "no generation parameters in this image");
            // The stored request (the 'gen' text chunk) comes from the image: parsed depth-limited, shown with any
            // invalid UTF-8 replaced (never an exception from dump()).
            auto show = [&](const std::string& chunk) {
              return core::parse_json(chunk, *path)
                  .dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
            };
            if (*json) {
              if (req == text.end()) fail(ErrorCode::NotFound, *path, "no gen request in this image (only A1111 parameters)");
              std::printf("%s\n", show(req->second).c_str());
              return 0;
            }
            if (params != text.end()) std::printf("%s\n", params->second.c_str());
            if (req != text.end()) std::printf("\ngen request:\n%s\n", show(req->second).c_str());
            return 0;
          }};
}

}  // namespace gen::cli
