#!/usr/bin/env bash
# docker-env.sh — a private Docker engine for sandboxd's tests and benchmarks.
#
#   scripts/docker-env.sh start  DIR   start dockerd in DIR (or reuse the one running there),
#                                      build the test images, print the docker host
#                                      ("unix://DIR/docker.sock") as the last line of stdout
#   scripts/docker-env.sh images DIR   (re)build the test images in the engine of DIR
#   scripts/docker-env.sh stop   DIR   stop that dockerd by its pid file (bounded wait) and
#                                      remove its bridge; never touches any other process
#   scripts/docker-env.sh host   DIR   print the docker host of DIR if its engine answers
#
# The engine is private: its own socket, data root, exec root, pid file and bridge
# interface, so it never meets a user's Docker or another test run's engine. Run as root
# (dockerd needs it); when docker.io or busybox-static is missing it is installed with
# apt-get. Messages go to stderr; DIR/dockerd.log holds the daemon's log.
#
# What this machine needed (Debian 12, cgroup v1, iptables-nft): nothing special —
# dockerd 20.10 starts with overlay2 and iptables. The only addition is a bridge of our
# own (`--bridge sbx<hash>` on a 10.x.y.0/24 subnet): with the default docker0, two
# engines started at once (two test runs, or a user's Docker) would share docker0 and
# its NAT rules. If the bridge cannot be created, the default bridge is used.
#
# A second name for runc: the engine is started with `--add-runtime
# sandboxd-test-runc=<path of runc>` (when runc is found), so tests can set a non-default
# OCI runtime (secure_runtime.docker_runtime) and see it honoured without gVisor or Kata.
# `host`/`start` on an engine that is already running keep whatever it was started with.
#
# Test images (built with `docker import`, no registry involved):
#   sandboxd-test/busybox:1  /bin/busybox (static) plus symlinks (sh, sleep, cat, env, ...)
#   sandboxd-test/execd:1    the same plus the stand-in execd of TESTING.md: /execd runs
#                            `busybox httpd -f -p 44772 -h /www`, /www/ping and
#                            /www/proxy/44772/ping answer 200 (copied into another
#                            busybox image it writes its own /tmp/.execd-www), and
#                            /bootstrap.sh starts $EXECD (or, run as
#                            /opt/opensandbox/bootstrap.sh as the reference server
#                            does, the execd beside it) in the background and then
#                            exec "$@".
#   sandboxd-test/egress:1   the stand-in egress sidecar: /egress saves its environment
#                            and $OPENSANDBOX_EGRESS_RULES under /tmp/egress, then serves
#                            HTTP on 18080 (busybox nc -ll -e /egress-handler, one shell per
#                            connection: busybox httpd knows no PUT/PATCH/DELETE).
#                            GET /healthz answers 200 without a token; everything else
#                            needs OPENSANDBOX-EGRESS-AUTH = $OPENSANDBOX_EGRESS_TOKEN (else
#                            401): GET /policy ({"status":"ok","policy":<current>}, the
#                            upstream sidecar's answer shape), PUT /policy (stores the body),
#                            PATCH|DELETE /policy (recorded only; each answers like GET),
#                            GET /requests (each policy call: "METHOD BODY" per line),
#                            GET /env.
#   sandboxd-test/egress-silent:1  an "egress" image that never serves /healthz (sleeps).
set -euo pipefail

BUSYBOX_IMAGE="sandboxd-test/busybox:1"
EXECD_IMAGE="sandboxd-test/execd:1"
TEST_RUNTIME="sandboxd-test-runc"
# Bumped whenever the stand-in execd or bootstrap.sh changes (build_images rebuilds).
# 2: bootstrap.sh also starts /opt/opensandbox/execd without $EXECD (the reference server).
EXECD_REVISION=2
EGRESS_IMAGE="sandboxd-test/egress:1"
EGRESS_SILENT_IMAGE="sandboxd-test/egress-silent:1"
READY_TIMEOUT_S=${SANDBOXD_DOCKER_READY_TIMEOUT:-60}
STOP_TIMEOUT_S=${SANDBOXD_DOCKER_STOP_TIMEOUT:-40}

log() { echo "docker-env: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  echo "usage: $0 start|stop|images|host DIR" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
CMD=$1
DIR=$2
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
SOCK="$DIR/docker.sock"
HOST="unix://$SOCK"
PIDFILE="$DIR/dockerd.pid"
LOGFILE="$DIR/dockerd.log"
BRIDGEFILE="$DIR/bridge"

# The docker CLI: Debian's if present (matches its daemon), else any on PATH.
docker_cli() {
  if [[ -x /usr/bin/docker ]]; then /usr/bin/docker -H "$HOST" "$@"; else docker -H "$HOST" "$@"; fi
}

engine_answers() { docker_cli info >/dev/null 2>&1; }

dockerd_pid() {
  [[ -s "$PIDFILE" ]] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Only a dockerd may be signalled through this pid file.
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "dockerd" ]] || return 1
  echo "$pid"
}

static_busybox() {
  local b
  for b in /bin/busybox /usr/bin/busybox; do
    if [[ -x "$b" ]] && ! ldd "$b" >/dev/null 2>&1; then
      echo "$b"
      return 0
    fi
  done
  return 1
}

install_packages() {
  local need=()
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  static_busybox >/dev/null || need+=(busybox-static)
  [[ ${#need[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || die "missing ${need[*]}; run as root or install them"
  log "installing ${need[*]} with apt-get"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
  fi
}

# Creates a bridge named after DIR with a free 10.x.y.1/24 address; prints its name.
make_bridge() {
  command -v ip >/dev/null 2>&1 || return 1
  local hash name i x y
  hash=$(printf '%s' "$DIR" | md5sum | cut -c1-8)
  name="sbx$hash"
  if ip link show "$name" >/dev/null 2>&1; then
    echo "$name"
    return 0
  fi
  for i in $(seq 0 31); do
    x=$(( (16#${hash:0:2} + i) % 200 + 20 ))
    y=$(( (16#${hash:2:2} + 7 * i) % 256 ))
    if ip -4 addr show | grep -q "inet 10\.$x\.$y\."; then continue; fi
    if ip -4 route show | grep -q "^10\.$x\.$y\."; then continue; fi
    ip link add name "$name" type bridge 2>/dev/null || return 1
    if ip addr add "10.$x.$y.1/24" dev "$name" 2>/dev/null && ip link set "$name" up; then
      echo "$name"
      return 0
    fi
    ip link del "$name" 2>/dev/null || true
    return 1
  done
  return 1
}

build_images() {
  engine_answers || die "no engine answers at $HOST"
  # The execd image carries the revision of its stand-in scripts: an older one is rebuilt.
  if docker_cli image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1 &&
     [[ "$(docker_cli image inspect -f '{{index .Config.Labels "sandboxd-test.revision"}}' \
           "$EXECD_IMAGE" 2>/dev/null)" == "$EXECD_REVISION" ]] &&
     docker_cli image inspect "$EGRESS_IMAGE" >/dev/null 2>&1 &&
     docker_cli image inspect "$EGRESS_SILENT_IMAGE" >/dev/null 2>&1; then
    log "test images present"
    return 0
  fi
  local busybox root
  busybox=$(static_busybox) || die "no static busybox (install busybox-static)"
  root=$(mktemp -d "$DIR/rootfs.XXXXXX")
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  local c
  for c in sh sleep cat env echo ls ps kill true false test mkdir rm wc head tail grep \
           sed id hostname httpd wget nc tr dd; do
    ln -s busybox "$root/bin/$c"
  done
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
  tar -C "$root" -c . | docker_cli import -c 'ENV PATH=/bin' - "$BUSYBOX_IMAGE" >/dev/null

  mkdir -p "$root/www/proxy/44772"
  echo "pong" >"$root/www/ping"
  echo "pong" >"$root/www/proxy/44772/ping"
  cat >"$root/execd" <<'EOF'
#!/bin/sh
# Stand-in for OpenSandbox execd: answers GET /ping and /proxy/44772/ping on port 44772.
# Injected into other images it brings its own document root (needs /bin/busybox there).
www=/www
if [ ! -f "$www/ping" ]; then
  www=/tmp/.execd-www
  mkdir -p "$www/proxy/44772" && echo pong >"$www/ping" && echo pong >"$www/proxy/44772/ping"
fi
exec /bin/busybox httpd -f -p 44772 -h "$www"
EOF
  cat >"$root/bootstrap.sh" <<'EOF'
#!/bin/sh
# Starts execd in the background, then runs the sandbox's entrypoint. execd is $EXECD
# (sandboxd sets it), else the execd beside this script (the reference server copies both
# into /opt/opensandbox and sets no EXECD).
execd=${EXECD:-${0%/*}/execd}
if [ -n "$EXECD" ] || [ "${0%/*}" = /opt/opensandbox ]; then
  if [ -x "$execd" ]; then "$execd" & fi
fi
exec "$@"
EOF
  chmod 0755 "$root/execd" "$root/bootstrap.sh"
  tar -C "$root" -c . | docker_cli import -c 'ENV PATH=/bin' \
    -c "LABEL sandboxd-test.revision=$EXECD_REVISION" - "$EXECD_IMAGE" >/dev/null

  cat >"$root/egress" <<'EOF'
#!/bin/sh
# Stand-in egress sidecar: keeps what it was given, then serves its API on 18080.
mkdir -p /tmp/egress
env >/tmp/egress/env
printf %s "$OPENSANDBOX_EGRESS_RULES" >/tmp/egress/policy.json
: >/tmp/egress/requests.log
exec /bin/busybox nc -ll -p 18080 -e /egress-handler
EOF
  cat >"$root/egress-handler" <<'EOF'
#!/bin/sh
# One HTTP/1.1 exchange on stdin/stdout (busybox nc -ll -e runs it per connection).
dir=/tmp/egress
respond() {
  printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
    "$1" "$(printf %s "$2" | wc -c)" "$2"
  exit 0
}
read -r method target proto || exit 0
method=$(printf %s "$method" | tr -d '\r')
target=$(printf %s "$target" | tr -d '\r')
len=0
auth=
while IFS= read -r line; do
  line=$(printf %s "$line" | tr -d '\r')
  [ -z "$line" ] && break
  name=$(printf %s "${line%%:*}" | tr 'A-Z' 'a-z')
  value=$(printf %s "${line#*:}" | sed 's/^ *//')
  case "$name" in
    content-length) len=$value ;;
    opensandbox-egress-auth) auth=$value ;;
  esac
done
body=
if [ "$len" -gt 0 ] 2>/dev/null; then body=$(dd bs=1 count="$len" 2>/dev/null); fi
[ "$target" = /healthz ] && respond "200 OK" '{"status":"ok"}'
[ "$auth" = "$OPENSANDBOX_EGRESS_TOKEN" ] || respond "401 Unauthorized" '{"error":"bad token"}'
case "$method $target" in
  "GET /policy") respond "200 OK" "{\"status\":\"ok\",\"policy\":$(cat "$dir/policy.json")}" ;;
  "PUT /policy") printf %s "$body" >"$dir/policy.json" ;;
  "PATCH /policy"|"DELETE /policy") ;;
  "GET /requests") respond "200 OK" "$(cat "$dir/requests.log")" ;;
  "GET /env") respond "200 OK" "$(cat "$dir/env")" ;;
  *) respond "404 Not Found" '{"error":"not found"}' ;;
esac
printf '%s %s\n' "$method" "$body" >>"$dir/requests.log"
respond "200 OK" "{\"status\":\"ok\",\"policy\":$(cat "$dir/policy.json")}"
EOF
  chmod 0755 "$root/egress" "$root/egress-handler"
  tar -C "$root" -c . |
    docker_cli import -c 'ENV PATH=/bin' -c 'CMD ["/egress"]' - "$EGRESS_IMAGE" >/dev/null
  tar -C "$root" -c . |
    docker_cli import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sleep", "3600"]' - \
      "$EGRESS_SILENT_IMAGE" >/dev/null
  rm -rf "$root"
  log "built $BUSYBOX_IMAGE, $EXECD_IMAGE, $EGRESS_IMAGE and $EGRESS_SILENT_IMAGE"
}

start_engine() {
  if engine_answers; then
    log "engine already answers at $HOST"
    return 0
  fi
  install_packages
  [[ $(id -u) -eq 0 ]] || die "dockerd needs root"
  # A unix socket path is limited to 107 bytes; containerd's lives under the exec root.
  local probe="$DIR/exec/containerd/containerd.sock.ttrpc"
  (( ${#probe} < 107 )) || die "DIR is too long for unix socket paths: $DIR"
  mkdir -p "$DIR/data" "$DIR/exec"
  rm -f "$SOCK"

  local args=(--data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$PIDFILE"
              --host "$HOST")
  local runc
  if runc=$(command -v runc 2>/dev/null) || runc=$(command -v docker-runc 2>/dev/null); then
    args+=(--add-runtime "$TEST_RUNTIME=$runc")
    log "registering runtime $TEST_RUNTIME ($runc)"
  else
    log "no runc found: runtime $TEST_RUNTIME is not registered"
  fi
  local bridge=""
  if bridge=$(make_bridge); then
    echo "$bridge" >"$BRIDGEFILE"
    args+=(--bridge "$bridge")
    log "using bridge $bridge"
  else
    log "could not create a bridge of our own; using the default bridge"
  fi
  log "starting dockerd (log: $LOGFILE)"
  setsid dockerd "${args[@]}" >"$LOGFILE" 2>&1 </dev/null &
  local child=$!
  local deadline=$(( SECONDS + READY_TIMEOUT_S ))
  until engine_answers; do
    if ! kill -0 "$child" 2>/dev/null; then
      tail -n 30 "$LOGFILE" >&2 || true
      die "dockerd exited during startup"
    fi
    if (( SECONDS >= deadline )); then
      tail -n 30 "$LOGFILE" >&2 || true
      kill -TERM "$child" 2>/dev/null || true
      die "dockerd did not answer within ${READY_TIMEOUT_S}s"
    fi
    sleep 0.2
  done
  log "dockerd $(cat "$PIDFILE") answers at $HOST"
}

stop_engine() {
  local pid
  if pid=$(dockerd_pid); then
    log "stopping dockerd $pid"
    kill -TERM "$pid"
    local deadline=$(( SECONDS + STOP_TIMEOUT_S ))
    while kill -0 "$pid" 2>/dev/null; do
      if (( SECONDS >= deadline )); then
        log "dockerd $pid did not stop within ${STOP_TIMEOUT_S}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
        break
      fi
      sleep 0.2
    done
  else
    log "no dockerd running for $DIR"
  fi
  # dockerd may leave mounts under DIR (e.g. exec/netns/default after host networking);
  # unmount them, deepest first, so that DIR can be deleted.
  local m
  if ! dockerd_pid >/dev/null; then
    awk -v d="$DIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
      while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  fi
  if [[ -s "$BRIDGEFILE" ]]; then
    local bridge
    bridge=$(cat "$BRIDGEFILE")
    ip link del "$bridge" 2>/dev/null || true
    rm -f "$BRIDGEFILE"
  fi
}

case "$CMD" in
  start)
    start_engine
    build_images
    echo "$HOST"
    ;;
  images)
    build_images
    ;;
  stop)
    stop_engine
    ;;
  host)
    engine_answers || die "no engine answers at $HOST"
    echo "$HOST"
    ;;
  *)
    usage
    ;;
esac
