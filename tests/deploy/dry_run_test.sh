#!/usr/bin/env bash
# deploy/ is accepted by a real API server: installs the CRDs of tests/kubernetes/crds (the
# Role names their resources), creates the namespace `sandboxd` for real (a dry-run of
# namespaced objects needs it to exist; it is left in place: the test server runs no
# namespace controller, so a deleted namespace would stay Terminating), then requires
# `kubectl apply --dry-run=server -f deploy/` to accept every object of every file. It also
# checks that the server kept the Role's rules exactly as written (the verbs sandboxd uses,
# deploy/README.md), and that the check can fail: a copy of deploy/ with one invalid
# StatefulSet must be refused.
#   tests/deploy/dry_run_test.sh SOURCE_ROOT
# Needs SANDBOXD_TEST_KUBECONFIG and SANDBOXD_TEST_KUBECTL (scripts/kube-env.sh writes
# both); without them it skips loudly (exit 77), and with CI=true that is a failure.
set -euo pipefail
root=${1:?source root}

if [[ -z "${SANDBOXD_TEST_KUBECONFIG:-}" || -z "${SANDBOXD_TEST_KUBECTL:-}" ]]; then
  echo "################################################################################" >&2
  echo "# deploy dry-run: no Kubernetes API server (SANDBOXD_TEST_KUBECONFIG and        #" >&2
  echo "# SANDBOXD_TEST_KUBECTL unset; scripts/run-tests.sh starts one).                #" >&2
  if [[ "${CI:-}" == "true" ]]; then
    echo "# CI=true: this is a FAILURE, not a skip.                                       #" >&2
    echo "################################################################################" >&2
    exit 1
  fi
  echo "# SKIPPED (it would FAIL with CI=true).                                         #" >&2
  echo "################################################################################" >&2
  exit 77
fi

read -r -a kubectl <<<"$SANDBOXD_TEST_KUBECTL"
work=$(mktemp -d "${TMPDIR:-/tmp}/sbx-deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"${kubectl[@]}" apply -f "$root/tests/kubernetes/crds/" >/dev/null
"${kubectl[@]}" wait --for condition=Established --timeout=60s \
  crd/batchsandboxes.sandbox.opensandbox.io crd/sandboxes.agents.x-k8s.io >/dev/null
"${kubectl[@]}" apply -f "$root/deploy/00-namespace.yaml" >/dev/null

# Every object of every manifest: one "(server dry run)" line each, and exit 0.
shopt -s nullglob
files=("$root"/deploy/*.yaml)
shopt -u nullglob
[[ ${#files[@]} -gt 0 ]] || fail "no manifests in $root/deploy"
objects=0
for f in "${files[@]}"; do
  n=$(grep -c '^kind:' "$f" || true)
  [[ $n -gt 0 ]] || fail "$f holds no object"
  objects=$((objects + n))
done
out=$("${kubectl[@]}" apply --dry-run=server -f "$root/deploy/" 2>&1) || fail "dry-run refused: $out"
accepted=$(grep -c '(server dry run)$' <<<"$out" || true)
echo "$out"
[[ $accepted -eq $objects ]] || fail "$objects objects in deploy/, $accepted accepted: $out"
for kind in namespace serviceaccount role.rbac.authorization.k8s.io \
            rolebinding.rbac.authorization.k8s.io configmap statefulset.apps service; do
  grep -q "^$kind/sandboxd" <<<"$out" || fail "no $kind/sandboxd* accepted"
done

# The Role as the server stored it: exactly these rules.
rules=$("${kubectl[@]}" apply --dry-run=server -f "$root/deploy/20-role.yaml" \
  -o jsonpath='{range .rules[*]}{.apiGroups[*]}|{.resources[*]}|{.verbs[*]}{"\n"}{end}')
expected='|pods|get list watch create delete patch deletecollection
|pods/log|get
|secrets|get create delete patch
coordination.k8s.io|leases|get create update
sandbox.opensandbox.io|batchsandboxes|get list watch create delete patch
sandbox.opensandbox.io|pools|get list create delete patch
agents.x-k8s.io|sandboxes|get list watch create delete patch'
[[ "$rules" == "$expected" ]] || fail "Role rules differ from the verbs sandboxd uses:
$rules
expected:
$expected"

# The check can fail: an invalid StatefulSet (negative replicas) in a copy is refused.
cp -r "$root/deploy" "$work/deploy"
sed -i 's/^  replicas: 1$/  replicas: -1/' "$work/deploy/40-statefulset.yaml"
grep -q '^  replicas: -1$' "$work/deploy/40-statefulset.yaml" || fail "could not plant replicas -1"
if bad=$("${kubectl[@]}" apply --dry-run=server -f "$work/deploy/" 2>&1); then
  fail "a StatefulSet with replicas -1 was accepted: $bad"
elif ! grep -q 'replicas' <<<"$bad"; then
  fail "refused, but not for replicas: $bad"
else
  echo "refused as expected: $(grep -m1 replicas <<<"$bad")"
fi

if [[ $failures -gt 0 ]]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "deploy/: $objects objects accepted by the API server"
