// Includes src/runtime/runtime.h in translation units that also include events/sandbox.h.
//
// Both headers define a `sbx::Platform {os, arch}` with the same members, which is a
// redefinition error in any file that includes both (every worker does). Until runtime.h
// reuses the events type, the runtime's struct is seen under the name sbx::RuntimePlatform
// here (same members and layout; workers only touch it through
// decltype(ContainerSpec::platform)). Include this header before any other header that
// includes runtime.h (fake_runtime.h, docker_runtime.h). Once runtime.h stops defining its
// own Platform, this header reduces to the plain include.
#pragma once

#include "events/sandbox.h"

#define Platform RuntimePlatform
#include "src/runtime/runtime.h"
#undef Platform
