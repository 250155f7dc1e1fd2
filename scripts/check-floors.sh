#!/usr/bin/env bash
# The floors of the layering (../shared/design/ARCHITECTURE.md): the ground modules include
# nothing from the layers above them. events/ includes only events/; store/ only events/
# and store/; migrations/ only events/, store/ and migrations/ (third-party headers with
# <...> are theirs to choose). Prints every offending include and exits 1; run by ctest
# (Floors.GroundModulesIncludeNothingAbove) so an upward include fails `make test`.
#   scripts/check-floors.sh [REPO_ROOT]
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
status=0
check() {  # check <folder> <allowed folders...>
  local folder=$1
  shift
  local allowed
  allowed=$(printf '%s|' "$@")
  allowed=${allowed%|}
  while IFS= read -r hit; do
    echo "floor broken: $hit (${folder}/ may include only: $*)"
    status=1
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$root/$folder" \
             --include='*.h' --include='*.cpp' |
           grep -vE "#[[:space:]]*include[[:space:]]*\"($allowed)/" | sed "s|^$root/||")
}
check events events
check store events store
check migrations events store migrations
exit $status
