// The version of sandboxd, reported by `--version`, /health and the ServerStarted event.
#pragma once

namespace sbx {
inline constexpr const char* kVersion = "0.1.0";
}
