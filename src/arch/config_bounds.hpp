// gen — range checks on model configs read from files, before anything is built. A config
// is text anyone can edit: `layers_per_block: 1e9` or `num_hidden_layers: 1e9` would make gen
// allocate gigabytes and then blame the request, `norm_num_groups: 0` divide by zero. Every
// value that sizes a model is checked against generous bounds (well beyond any real model:
// docs/formats.md#config-bounds), and the weights the config needs at the least are counted
// from it and compared with what the weight files hold, so a config that does not belong to
// its weights is refused before a single tensor is allocated. Errors are InvalidFormat
// naming the config file and the key.
#pragma once

#include <cstdint>
#include <string>

#include "arch/configs.hpp"

namespace gen::arch {

// Throws InvalidFormat "<subject>: <key> = <value> is out of range (<lo> to <hi>...)" or
// "<subject>: norm_num_groups = G does not divide the N channels of a level".
void check_bounds(const models::UNetConfig& c, const std::string& subject);
void check_bounds(const models::VaeConfig& c, const std::string& subject);
void check_bounds(const models::ClipTextConfig& c, const std::string& subject);

// A lower bound of the weights (elements) a model of this config holds: only the largest
// matrices every such model has (second convolutions of the resnets, attention projections,
// embeddings), so a real model always holds at least this many.
double min_weights(const models::UNetConfig& c, bool encoder_only = false);
double min_weights(const models::VaeConfig& c);
double min_weights(const models::ClipTextConfig& c);

// Refuses (InvalidFormat naming `subject`, the config) a config needing at least `needed`
// weights when the weight file `weights` holds only `held`.
void check_weights_fit(double needed, std::uint64_t held, const std::string& subject, const std::string& weights);

}  // namespace gen::arch
