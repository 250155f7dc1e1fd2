#!/usr/bin/env bash
# kube-env.sh — a private Kubernetes API server (etcd + kube-apiserver) for sandboxd's tests.
#
#   scripts/kube-env.sh build               build tests/kubernetes/testbed into the cache dir
#                                           (only when its sources or the Go version changed);
#                                           prints the binary's path as the last line of stdout
#   scripts/kube-env.sh start   DIR         start etcd + kube-apiserver with state in DIR (or
#                                           reuse the pair running there), install the CRDs of
#                                           tests/kubernetes/crds/ and wait until they are
#                                           Established; prints DIR/kubeconfig as the last line
#   scripts/kube-env.sh stop    DIR         stop that pair by its pid files (apiserver first,
#                                           bounded wait, then SIGKILL); removes nothing
#   scripts/kube-env.sh kubectl DIR ARGS... the testbed's kubectl against DIR/kubeconfig
#   scripts/kube-env.sh apiserver-stop  DIR stop only the API server (etcd keeps the data)
#   scripts/kube-env.sh apiserver-start DIR start it again on the same port (an outage ends)
#
# The binary (`kube-testbed etcd|apiserver|kubectl`, ~250 MB) lives outside the checkout in
# ${SANDBOXD_KUBE_CACHE:-$HOME/.cache/sandboxd-kube}, with kube-testbed.inputs beside it (a
# sha256 of go.mod, go.sum, main.go and the Go version it was built with). Go's build and
# module caches stay where Go keeps them. Built with -trimpath (no local paths in the
# binary): a cold build took 13.5 min with -p 2 on a busy 2-core machine; a warm one ~20 s.
#
# Go: the first of $SANDBOXD_GO, `go` on PATH, /usr/local/go/bin/go, /usr/lib/go-1.*/bin/go
# that is >= 1.26. Failing that, a Go from 1.21 to 1.25 (Debian 12's bookworm-backports
# golang-1.23-go, which scripts/install-deps.sh test installs where no Go is found) is used
# with GOTOOLCHAIN=$SANDBOXD_GO_TOOLCHAIN (default go1.26.8): the go command then fetches
# that toolchain from the Go module proxy as the module golang.org/toolchain. Older Go
# (Debian 12's own golang is 1.19, which predates GOTOOLCHAIN) cannot: the script fails.
#
# Nothing needs root: both servers listen on 127.0.0.1 only, on ports picked free at start.
# State in DIR: etcd/ (data), certs/ (the apiserver's self-signed serving cert; CA for
# clients is certs/apiserver.crt, valid for 127.0.0.1, not "localhost"), sa.key/sa.pub
# (service-account signing pair), tokens.csv (one static token: user "admin", group
# system:masters), token, kubeconfig, env (the two exports the tests read:
# SANDBOXD_TEST_KUBECONFIG and SANDBOXD_TEST_KUBECTL), ports, etcd.pid, apiserver.pid,
# etcd.log, apiserver.log. Messages go to stderr.
#
# The apiserver runs with:
#   --authorization-mode Node,RBAC  system:masters passes every check; with RBAC on, Roles
#                                   go through the real RBAC storage (escalation checks),
#                                   so deploy/ is dry-run as a cluster would take it
#   --disable-admission-plugins ServiceAccount   no token controller runs here
#   --watch-cache=false --etcd-compaction-interval=5s   an old resourceVersion really gets
#                                   410 Gone (a watch cache would answer synthetic ADDEDs)
#   --endpoint-reconciler-type none no controllers run (no scheduler, kubelet or GC either:
#                                   tests play the kubelet by patching pod status)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
SRC="$root/tests/kubernetes/testbed"
CRDS="$root/tests/kubernetes/crds"
CACHE=${SANDBOXD_KUBE_CACHE:-$HOME/.cache/sandboxd-kube}
BIN="$CACHE/kube-testbed"
INPUTS="$BIN.inputs"
GO_TOOLCHAIN=${SANDBOXD_GO_TOOLCHAIN:-go1.26.8}
READY_TIMEOUT_S=${SANDBOXD_KUBE_READY_TIMEOUT:-90}
STOP_TIMEOUT_S=${SANDBOXD_KUBE_STOP_TIMEOUT:-20}
START_ATTEMPTS=3

log() { echo "kube-env: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  echo "usage: $0 build | start DIR | stop DIR | kubectl DIR ARGS... | apiserver-stop DIR | apiserver-start DIR" >&2
  exit 2
}

# --- Go and the build ----------------------------------------------------------------------

# Prints "MAJOR MINOR" of the Go at $1 (e.g. "1 26"), or fails.
go_version_of() {
  local v
  v=$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) || return 1
  [[ "$v" =~ ^go([0-9]+)\.([0-9]+) ]] || return 1
  echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
}

# Sets GO (the command) and exports GOTOOLCHAIN for it; fails with a message if none fits.
find_go() {
  local c maj min old=""
  for c in "${SANDBOXD_GO:-}" "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go \
           $(ls -d /usr/lib/go-1.*/bin/go 2>/dev/null | sort -rV); do
    [[ -n "$c" && -x "$c" ]] || continue
    read -r maj min < <(go_version_of "$c") || continue
    if (( maj > 1 || min >= 26 )); then
      GO=$c
      export GOTOOLCHAIN=local
      return 0
    fi
    (( min >= 21 )) && [[ -z "$old" ]] && old=$c
  done
  if [[ -n "$old" ]]; then
    GO=$old
    export GOTOOLCHAIN=$GO_TOOLCHAIN
    log "$("$GO" env GOVERSION 2>/dev/null || echo old Go) is older than 1.26; using GOTOOLCHAIN=$GOTOOLCHAIN (from the Go module proxy)"
    return 0
  fi
  die "no Go >= 1.21 found (tried \$SANDBOXD_GO, PATH, /usr/local/go/bin/go); the Kubernetes test peer needs Go >= 1.26 (or >= 1.21 to fetch it as a toolchain module)"
}

inputs_hash() {
  { cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go"; "$GO" env GOVERSION; } | sha256sum | cut -d' ' -f1
}

build() {
  [[ -f "$SRC/go.mod" && -f "$SRC/go.sum" && -f "$SRC/main.go" ]] ||
    die "missing $SRC/{go.mod,go.sum,main.go}"
  find_go
  mkdir -p "$CACHE"
  # One build at a time per cache dir (two test runs may start together).
  exec 9>"$CACHE/build.lock"
  flock 9
  local want
  want=$(inputs_hash)
  if [[ -x "$BIN" && -s "$INPUTS" && "$(cat "$INPUTS")" == "$want" ]]; then
    log "kube-testbed up to date ($BIN)"
    echo "$BIN"
    return 0
  fi
  log "building kube-testbed with $("$GO" env GOVERSION) into $BIN (cold: ~12 min per core)"
  local tmp="$BIN.tmp.$$"
  rm -f "$tmp"
  if ! (cd "$SRC" && "$GO" build -p 2 -mod=readonly -trimpath -o "$tmp" .) >&2; then
    rm -f "$tmp"
    die "go build of $SRC failed"
  fi
  mv -f "$tmp" "$BIN"
  echo "$want" >"$INPUTS"
  log "built $BIN"
  echo "$BIN"
}

# --- the servers ---------------------------------------------------------------------------

# Prints N distinct ports that were free on 127.0.0.1 a moment ago.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# Prints the pid recorded in DIR/$1.pid if that process is alive and is our kube-testbed
# running with state in DIR (never signal anything else through a stale pid file).
pid_of() {
  local f="$DIR/$1.pid" pid
  [[ -s "$f" ]] || return 1
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "kube-testbed" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/" || return 1
  echo "$pid"
}

apiserver_ready() {
  [[ -s "$DIR/ports" && -s "$DIR/token" ]] || return 1
  local api_port
  api_port=$(awk '{print $3}' "$DIR/ports")
  [[ "$(curl -s --max-time 2 --cacert "$DIR/certs/apiserver.crt" \
        -H "Authorization: Bearer $(cat "$DIR/token")" \
        "https://127.0.0.1:$api_port/readyz" 2>/dev/null)" == "ok" ]]
}

etcd_healthy() {
  curl -s --max-time 2 "http://127.0.0.1:$1/health" 2>/dev/null | grep -q '"health":"true"'
}

# Stops the process of DIR/$1.pid: SIGTERM, bounded wait, SIGKILL.
stop_one() {
  local name=$1 pid
  if ! pid=$(pid_of "$name"); then
    log "no $name running for $DIR"
    rm -f "$DIR/$name.pid"
    return 0
  fi
  log "stopping $name $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$(( SECONDS + STOP_TIMEOUT_S ))
  while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS >= deadline )); then
      log "$name $pid did not stop within ${STOP_TIMEOUT_S}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$DIR/$name.pid"
}

make_credentials() {
  if [[ ! -s "$DIR/sa.key" || ! -s "$DIR/sa.pub" ]]; then
    openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
    openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null
  fi
  if [[ ! -s "$DIR/token" ]]; then
    (umask 077; openssl rand -hex 24 >"$DIR/token")
  fi
  local token
  token=$(cat "$DIR/token")
  (umask 077; echo "$token,admin,admin,\"system:masters\"" >"$DIR/tokens.csv")
}

write_client_files() {
  local api_port=$1 token
  token=$(cat "$DIR/token")
  (umask 077; cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $DIR/certs/apiserver.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: testbed
  context:
    cluster: testbed
    user: admin
    namespace: default
current-context: testbed
EOF
  )
  cat >"$DIR/env" <<EOF
export SANDBOXD_TEST_KUBECONFIG=$DIR/kubeconfig
export SANDBOXD_TEST_KUBECTL="$BIN kubectl --kubeconfig $DIR/kubeconfig"
EOF
}

# spawn NAME PROGRAM ARGS...: runs `kube-testbed PROGRAM ARGS` in a session of its own (a
# Ctrl-C of the caller does not reach it), output to DIR/NAME.log; the process writes its
# own pid to DIR/NAME.pid before it execs, so the file names the server, not a wrapper.
spawn() {
  local name=$1
  shift
  rm -f "$DIR/$name.pid"
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' spawn "$DIR/$name.pid" "$BIN" "$@" \
    >"$DIR/$name.log" 2>&1 </dev/null &
  local i
  for (( i = 0; i < 50; i++ )); do
    [[ -s "$DIR/$name.pid" ]] && return 0
    sleep 0.1
  done
  die "$name did not start"
}

# spawn_apiserver ETCD_PORT API_PORT: starts kube-apiserver (it does not wait for it).
spawn_apiserver() {
  local etcd_port=$1 api_port=$2
  log "starting kube-apiserver on 127.0.0.1:$api_port (log: $DIR/apiserver.log)"
  spawn apiserver apiserver \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$api_port" --cert-dir "$DIR/certs" \
    --endpoint-reconciler-type none \
    --service-cluster-ip-range 10.0.0.0/24 \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$DIR/sa.pub" \
    --service-account-signing-key-file "$DIR/sa.key" \
    --token-auth-file "$DIR/tokens.csv" \
    --authorization-mode Node,RBAC \
    --disable-admission-plugins ServiceAccount \
    --watch-cache=false --etcd-compaction-interval=5s
}

# apiserver-stop / apiserver-start: takes the API server away and brings it back on the same
# port with the same etcd, certificates and token (the tests' API server outage).
apiserver_stop() {
  pid_of apiserver >/dev/null || die "no kube-apiserver running for $DIR"
  stop_one apiserver
}

apiserver_start() {
  [[ -s "$DIR/ports" ]] || die "no $DIR/ports: '$0 start $DIR' first"
  local etcd_port peer_port api_port
  read -r etcd_port peer_port api_port <"$DIR/ports"
  pid_of etcd >/dev/null || die "etcd of $DIR is not running"
  if pid_of apiserver >/dev/null && apiserver_ready; then
    log "kube-apiserver already ready for $DIR"
    return 0
  fi
  spawn_apiserver "$etcd_port" "$api_port"
  local deadline=$(( SECONDS + READY_TIMEOUT_S ))
  until apiserver_ready; do
    if ! pid_of apiserver >/dev/null || (( SECONDS >= deadline )); then
      tail -n 30 "$DIR/apiserver.log" >&2 || true
      die "kube-apiserver did not come back within ${READY_TIMEOUT_S}s"
    fi
    sleep 0.2
  done
  log "kube-apiserver $(cat "$DIR/apiserver.pid") back at https://127.0.0.1:$api_port"
}

# One try at starting etcd then the apiserver on fresh ports; fails (after stopping what it
# started) if either exits or does not answer in time — a port taken between picking and
# binding is the usual cause, and the caller tries again.
try_start() {
  local etcd_port peer_port api_port
  read -r etcd_port peer_port api_port < <(free_ports 3)
  echo "$etcd_port $peer_port $api_port" >"$DIR/ports"
  mkdir -p "$DIR/etcd" "$DIR/certs"
  chmod 700 "$DIR/etcd"

  log "starting etcd on 127.0.0.1:$etcd_port (log: $DIR/etcd.log)"
  spawn etcd etcd --name testbed --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "testbed=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync --log-level warn
  local deadline=$(( SECONDS + READY_TIMEOUT_S ))
  until etcd_healthy "$etcd_port"; do
    if ! pid_of etcd >/dev/null || (( SECONDS >= deadline )); then
      tail -n 20 "$DIR/etcd.log" >&2 || true
      stop_one etcd
      log "etcd did not become healthy"
      return 1
    fi
    sleep 0.2
  done

  spawn_apiserver "$etcd_port" "$api_port"
  deadline=$(( SECONDS + READY_TIMEOUT_S ))
  until apiserver_ready; do
    if ! pid_of apiserver >/dev/null || (( SECONDS >= deadline )); then
      tail -n 30 "$DIR/apiserver.log" >&2 || true
      stop_one apiserver
      stop_one etcd
      log "kube-apiserver did not become ready within ${READY_TIMEOUT_S}s"
      return 1
    fi
    sleep 0.2
  done
  write_client_files "$api_port"
  log "kube-apiserver $(cat "$DIR/apiserver.pid") ready at https://127.0.0.1:$api_port"
}

testbed_kubectl() {
  "$BIN" kubectl --kubeconfig "$DIR/kubeconfig" "$@"
}

install_crds() {
  shopt -s nullglob
  local files=("$CRDS"/*.yaml) f names=() name
  shopt -u nullglob
  if [[ ${#files[@]} -eq 0 ]]; then
    log "no CRDs in $CRDS"
    return 0
  fi
  for f in "${files[@]}"; do
    name=$(testbed_kubectl apply -f "$f" -o name) || die "kubectl apply -f $f was refused"
    names+=("$name")
  done
  testbed_kubectl wait --for condition=Established --timeout=60s "${names[@]}" >&2 ||
    die "CRDs not Established within 60s: ${names[*]}"
  log "CRDs established: ${names[*]}"
}

start() {
  [[ -x "$BIN" ]] || die "no $BIN: run '$0 build' first"
  command -v openssl >/dev/null || die "openssl is missing"
  command -v curl >/dev/null || die "curl is missing"
  command -v python3 >/dev/null || die "python3 is missing"
  if pid_of apiserver >/dev/null && apiserver_ready; then
    log "kube-apiserver already ready for $DIR"
  else
    stop_one apiserver
    stop_one etcd
    make_credentials
    local i
    for (( i = 1; i <= START_ATTEMPTS; i++ )); do
      try_start && break
      (( i < START_ATTEMPTS )) || die "could not start etcd + kube-apiserver in $DIR ($START_ATTEMPTS tries)"
      log "retrying with other ports"
    done
  fi
  install_crds
  echo "$DIR/kubeconfig"
}

[[ $# -ge 1 ]] || usage
CMD=$1
shift
case "$CMD" in
  build)
    [[ $# -eq 0 ]] || usage
    build
    ;;
  start|stop|kubectl|apiserver-stop|apiserver-start)
    [[ $# -ge 1 ]] || usage
    mkdir -p "$1"
    DIR=$(cd "$1" && pwd)
    shift
    case "$CMD" in
      start)
        [[ $# -eq 0 ]] || usage
        start
        ;;
      stop)
        [[ $# -eq 0 ]] || usage
        stop_one apiserver
        stop_one etcd
        ;;
      apiserver-stop)
        [[ $# -eq 0 ]] || usage
        apiserver_stop
        ;;
      apiserver-start)
        [[ $# -eq 0 ]] || usage
        apiserver_start
        ;;
      kubectl)
        [[ -x "$BIN" ]] || die "no $BIN: run '$0 build' first"
        [[ -s "$DIR/kubeconfig" ]] || die "no $DIR/kubeconfig: run '$0 start $DIR' first"
        testbed_kubectl "$@"
        ;;
    esac
    ;;
  *)
    usage
    ;;
esac
