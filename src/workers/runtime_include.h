// Includes src/runtime/runtime.h for the workers. runtime.h now takes sbx::Platform from
// events/sandbox.h, so this is the plain include, kept so the workers' includes stay put.
#pragma once

#include "events/sandbox.h"
#include "src/runtime/runtime.h"
