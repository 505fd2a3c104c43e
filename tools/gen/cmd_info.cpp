// gen info IMAGE: the generation parameters stored in a PNG.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "core/fail.hpp"
#include "core/json.hpp"
#include "gen/image.hpp"
#include "gen/metadata.hpp"
#include "request_options.hpp"

namespace gen::cli {

Command register_info(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Print the generation parameters stored in an image");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  sub->add_option("IMAGE", *path, "A PNG written by gen (or A1111)")->required();
  sub->add_flag("--json", *json,
                "Print the gen request as JSON only (an A1111 image: the request `gen --from` would run)");
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
              if (req != text.end()) {
                std::printf("%s\n", show(req->second).c_str());
                return 0;
              }
              // An A1111 image: the request its text makes, what gen cannot honour on stderr.
              const auto imp = request_from_a1111(params->second, a1111_lookup());
              for (const auto& [field, message] : imp.problems)
                std::fprintf(stderr, "gen: warning: %s: %s\n", path->c_str(), message.c_str());
              std::printf("%s\n", show(imp.request.to_json()).c_str());
              return 0;
            }
            if (params != text.end()) {
              std::printf("%s\n", params->second.c_str());
              // The text as A1111 reads it (parse_generation_parameters): one key a line.
              const auto imp = request_from_a1111(params->second, a1111_lookup());
              std::printf("\nA1111 fields:\n");
              for (const auto& [k, v] : imp.fields) {
                bool unknown = false;
                for (const auto& u : imp.unknown) unknown = unknown || u == k;
                std::printf("  %s: %s%s\n", k.c_str(), v.c_str(), unknown ? "  (not used by gen)" : "");
              }
              if (req == text.end()) {  // what `gen --from` would have to be told
                for (const auto& [field, message] : imp.problems) std::printf("  ! %s\n", message.c_str());
                for (const auto& n : imp.notes) std::printf("  ~ %s\n", n.c_str());
              }
            }
            if (req != text.end()) std::printf("\ngen request:\n%s\n", show(req->second).c_str());
            return 0;
          }};
}

}  // namespace gen::cli
