#!/usr/bin/env bash
# The layering check can fail: copies the module folders to a temp dir, shows the copy
# passes, then plants one upward include at a time (store -> src/common, events -> store,
# api -> store, src/service -> src/config, Pistache outside api/) and requires each to be
# refused with a line naming the file, the include and the rule. Also checks the real tree.
#   tests/layering/planted_include_test.sh SOURCE_ROOT
set -euo pipefail
root=${1:?source root}
check="$root/scripts/check-layering.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/sbx-layering.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$check" "$root" >/dev/null || fail "the source tree itself breaks the floors (run scripts/check-layering.sh)"

fresh_copy() {
  rm -rf "$work/tree"
  mkdir -p "$work/tree"
  (cd "$root" && cp -r events store migrations api src "$work/tree/")
}

fresh_copy
"$check" "$work/tree" >/dev/null 2>&1 || fail "an unchanged copy of the tree fails the check"

# plant FILE INCLUDE-LINE EXPECTED-SUBSTRING
plant() {
  local file=$1 line=$2 expect=$3 out rc=0
  fresh_copy
  [[ -f "$work/tree/$file" ]] || { fail "no $file to plant into"; return; }
  printf '%s\n' "$line" >>"$work/tree/$file"
  out=$("$check" "$work/tree" 2>&1) || rc=$?
  if [[ $rc -eq 0 ]]; then
    fail "planted '$line' in $file and the check passed"
  elif ! grep -qF -- "$file:" <<<"$out" || ! grep -qF -- "$expect" <<<"$out"; then
    fail "planted '$line' in $file: the message does not name the file and '$expect': $out"
  else
    echo "refused as expected: $(grep -F -- "$file:" <<<"$out" | head -1)"
  fi
}

plant store/event_store.h '#include "src/common/log.h"' 'store may not include "src/common/log.h"'
plant events/event.h '#include "store/event_store.h"' 'events may not include "store/event_store.h"'
plant api/api_server.h '#include "store/event_store.h"' 'api may not include "store/event_store.h"'
plant src/service/sandbox_service.h '#include "src/config/config.h"' 'src/service may not include "src/config/config.h"'
plant src/service/sandbox_service.h '#include "api/api_server.h"' 'src/service may not include "api/api_server.h"'
plant src/workers/workers.h '#include "api/api_server.h"' 'src/workers may not include "api/api_server.h"'
plant migrations/migrations.h '#include "src/common/clock.h"' 'migrations may not include "src/common/clock.h"'
plant src/service/sandbox_service.h '#include <pistache/endpoint.h>' 'belongs to api'
plant events/event.h '#include <rocksdb/db.h>' 'belongs to store and migrations'

if [[ $failures -gt 0 ]]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "layering check refuses every planted upward include"
