#!/usr/bin/env bash
# The module floors of ../shared/design/ARCHITECTURE.md, checked on every build:
#   scripts/check-layering.sh [SOURCE_ROOT]
# Every `#include "..."` of a module's sources must name a module that module may depend on
# (dependencies point downwards only), and third-party headers that belong to one module
# (RocksDB, Pistache, libcurl, spdlog, toml++, libarchive, yaml-cpp) appear only there. Prints one line
# per violation (file:line: the include and the rule) and exits 1 if there is any.
# CMake runs it before any library is compiled (target sbx_layering), so an upward include
# fails the build, not the review; tests/layering runs it against a planted violation.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

# module -> the modules it may include (itself always). Order: ground first.
declare -A allowed=(
  [events]=""
  [store]="events"
  [migrations]="events store"
  [src/common]="events"
  [src/metrics]="events src/common"
  [src/config]="events src/common"
  [src/http]="events src/common"
  [src/runtime]="events src/common src/http"
  [src/service]="events store src/common src/metrics"
  [api]="events src/common src/metrics src/service"
  [src/workers]="events store src/common src/metrics src/runtime src/service"
  [src/tools]="events store migrations src/common"
  [src/server]="events store migrations src/common src/metrics src/config src/http src/runtime src/service api src/workers src/tools"
)
# third-party header prefix -> the modules that may include it
declare -A owner=(
  [rocksdb/]="store migrations"
  [pistache/]="api"
  [curl/]="src/http"
  [spdlog/]="src/common"
  [toml++/]="src/config"
  [archive]="src/runtime"
  [yaml-cpp/]="src/runtime"
)

# The module a path belongs to: the longest key of `allowed` that prefixes it.
module_of() {
  local path=$1 best="" m
  for m in "${!allowed[@]}"; do
    if [[ $path == "$m"/* && ${#m} -gt ${#best} ]]; then best=$m; fi
  done
  printf '%s' "$best"
}

# The module an include names ("store/keys.h" -> store, "src/http/x.h" -> src/http).
included_module() {
  local inc=$1
  case $inc in
    src/*) inc=${inc#src/}; printf 'src/%s' "${inc%%/*}" ;;
    */*) printf '%s' "${inc%%/*}" ;;
    *) printf '' ;;
  esac
}

violations=0
report() {
  echo "$1" >&2
  violations=$((violations + 1))
}

mapfile -t files < <(find events store migrations api src -type f \( -name '*.h' -o -name '*.cpp' \) 2>/dev/null | sort)
for f in "${files[@]}"; do
  mod=$(module_of "$f")
  [[ -n $mod ]] || continue
  # `grep -n` output: LINE:#include "x" or LINE:#include <x>
  while IFS= read -r hit; do
    line=${hit%%:*}
    text=${hit#*:}
    if [[ $text =~ \#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
      inc=${BASH_REMATCH[1]}
      target=$(included_module "$inc")
      [[ -z $target || $target == "$mod" ]] && continue
      if [[ -z ${allowed[$target]+x} ]]; then
        report "$f:$line: includes \"$inc\" from unknown module '$target' (not in scripts/check-layering.sh)"
        continue
      fi
      ok=0
      for a in ${allowed[$mod]}; do [[ $a == "$target" ]] && ok=1; done
      if [[ $ok -eq 0 ]]; then
        report "$f:$line: $mod may not include \"$inc\" ($mod may include: ${allowed[$mod]:-nothing but itself})"
      fi
    elif [[ $text =~ \#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
      inc=${BASH_REMATCH[1]}
      for p in "${!owner[@]}"; do
        if [[ $inc == "$p"* ]]; then
          ok=0
          for a in ${owner[$p]}; do [[ $a == "$mod" ]] && ok=1; done
          if [[ $ok -eq 0 ]]; then
            report "$f:$line: <$inc> belongs to ${owner[$p]// / and }; $mod may not include it"
          fi
        fi
      done
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include' "$f" || true)
done

if [[ $violations -gt 0 ]]; then
  echo "check-layering: $violations include(s) break the module floors (../shared/design/ARCHITECTURE.md)" >&2
  exit 1
fi
echo "check-layering: ${#files[@]} files, module floors hold"
