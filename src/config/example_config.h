// Example configuration files, as written by `sandboxd init-config`.
//
// render_example_config() returns a fully commented TOML file that lists every key of
// config.h with its default and a one-line explanation. Keys without a default (api_key,
// eip, ...) appear commented out. Loading the "docker" example gives exactly the built-in
// defaults; the "kubernetes" example sets runtime.type = "kubernetes" and
// kubernetes.namespace = "opensandbox" (see kubernetes_example_config()) and leaves the
// other keys at their defaults.
//
// Errors of write_example_config():
//   kInvalidArgument  `kind` is not "docker" or "kubernetes".
//   kAlreadyExists    `path` exists and `force` is false ("... (use --force to overwrite)").
//   kUnavailable      the parent directories or the file cannot be created or written.
// The file is written to a temporary sibling and renamed into place.
//
// Thread-safety: pure functions (plus the file system).
#pragma once

#include <string>
#include <string_view>

#include "events/result.h"
#include "src/config/config.h"

namespace sbx {

// True for "docker" and "kubernetes".
bool is_example_kind(std::string_view kind);

// `kind` must satisfy is_example_kind(); any other value renders the docker example.
std::string render_example_config(std::string_view kind);

// Creates the parent directories of `path`, then writes render_example_config(kind).
Result<void> write_example_config(const std::string& path, std::string_view kind, bool force);

// What loading the kubernetes example yields, given the built-in defaults `defaults`
// (for tests and documentation).
Config kubernetes_example_config(Config defaults);

}  // namespace sbx
