// gen — the whole public API in one include.
#pragma once

#include "gen/control.hpp"
#include "gen/engine.hpp"
#include "gen/metadata.hpp"
#include "gen/output.hpp"
#include "gen/error.hpp"
#include "gen/export.hpp"
#include "gen/image.hpp"
#include "gen/request.hpp"
#include "gen/safetensors.hpp"
#include "gen/training.hpp"
#include "gen/upscale.hpp"
#include "gen/version.hpp"
