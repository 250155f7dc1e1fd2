// The one way api/ includes Pistache.
//
// Pistache 0.0.5's <pistache/common.h> defines a function-like macro `unreachable()`. A
// standard header that declares C++23's std::unreachable (<utility>) and is first included
// after it gets that declaration rewritten into a redeclaration of __builtin_unreachable,
// which GCC 12 rejects at -O0 ("inlining failed in call to always_inline"), e.g. in the
// sanitizer build. So the standard headers come first, here, for every file of api/.
#pragma once

#include <expected>
#include <optional>
#include <utility>

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/http_defs.h>
#include <pistache/peer.h>
#include <pistache/transport.h>
