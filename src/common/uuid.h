// UUIDs: the ground module's (events/uuid.h), where the store and the migrations make
// their event ids; this header forwards there for everyone above.
#pragma once

#include "events/uuid.h"
