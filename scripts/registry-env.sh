#!/usr/bin/env bash
# registry-env.sh — a private image registry on loopback for sandboxd's tests.
#
#   scripts/registry-env.sh start DIR [DOCKER_HOST]
#       starts Debian's docker-registry in DIR (or reuses the one running there) on
#       127.0.0.1:<a free port>, with htpasswd (bcrypt) auth for one user with a random
#       password and filesystem storage in DIR/storage. With DOCKER_HOST (the private test
#       engine, "unix://.../docker.sock") it also pushes the test image through that engine
#       (docker login + push with a CLI config of its own in DIR/docker-config) and removes
#       it from the engine again, so the engine has to pull it with credentials.
#       Writes DIR/env (shell syntax, also read by the C++ tests) and prints it to stdout:
#         SBX_REGISTRY=127.0.0.1:PORT
#         SBX_REGISTRY_USER=sandboxd-test
#         SBX_REGISTRY_PASSWORD=<random hex>
#         SBX_REGISTRY_IMAGE=127.0.0.1:PORT/sandboxd-test/private:1   (only when pushed)
#   scripts/registry-env.sh stop DIR
#       stops that registry by its pid file (bounded wait); never touches another process.
#
# The test image is a fresh `docker import` of the exported file system of the engine's
# sandboxd-test/busybox:1 (scripts/docker-env.sh builds it), so it has an image id of its
# own: removing it from the engine really removes it. The engine treats 127.0.0.0/8
# registries as insecure, so no TLS is needed. Messages go to stderr; DIR/registry.log
# holds the registry's log. Packages (docker-registry, apache2-utils for htpasswd) are
# installed with apt-get when missing and running as root.
set -euo pipefail

USER_NAME="sandboxd-test"
SOURCE_IMAGE="sandboxd-test/busybox:1"
REPO_PATH="sandboxd-test/private:1"
READY_TIMEOUT_S=${SANDBOXD_REGISTRY_READY_TIMEOUT:-30}
STOP_TIMEOUT_S=${SANDBOXD_REGISTRY_STOP_TIMEOUT:-20}
PORT_ATTEMPTS=8

log() { echo "registry-env: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  echo "usage: $0 start DIR [DOCKER_HOST] | stop DIR" >&2
  exit 2
}

[[ $# -ge 2 && $# -le 3 ]] || usage
CMD=$1
DIR=$2
ENGINE=${3:-}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PIDFILE="$DIR/registry.pid"
LOGFILE="$DIR/registry.log"
ENVFILE="$DIR/env"

registry_pid() {
  [[ -s "$PIDFILE" ]] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Only a docker-registry may be signalled through this pid file (comm is cut at 15).
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "docker-registry" ]] || return 1
  echo "$pid"
}

install_packages() {
  local need=()
  command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
  [[ ${#need[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || die "missing ${need[*]}; run as root or install them"
  log "installing ${need[*]} with apt-get"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
  fi
}

# A TCP port on 127.0.0.1 that was free a moment ago (the start retries on a lost race).
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    echo $(( 20000 + RANDOM % 15000 ))
  fi
}

# The HTTP status of GET http://ADDR/v2/ ("000" when nothing answers).
v2_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$1/v2/" 2>/dev/null || true
}

write_config() {
  local addr=$1
  cat >"$DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $DIR/storage
  delete:
    enabled: true
http:
  addr: $addr
auth:
  htpasswd:
    realm: sandboxd-test
    path: $DIR/htpasswd
EOF
}

start_registry() {
  if registry_pid >/dev/null && [[ -s "$ENVFILE" ]]; then
    # shellcheck source=/dev/null
    source "$ENVFILE"
    if [[ "$(v2_status "$SBX_REGISTRY")" == "401" ]]; then
      log "registry already answers at $SBX_REGISTRY"
      return 0
    fi
  fi
  install_packages
  command -v curl >/dev/null 2>&1 || die "curl is needed (scripts/install-deps.sh test)"
  mkdir -p "$DIR/storage"
  local password
  password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  htpasswd -Bbn "$USER_NAME" "$password" >"$DIR/htpasswd" 2>/dev/null ||
    die "htpasswd could not write $DIR/htpasswd"
  local attempt port addr child deadline status
  for attempt in $(seq 1 "$PORT_ATTEMPTS"); do
    port=$(free_port)
    addr="127.0.0.1:$port"
    write_config "$addr"
    log "starting docker-registry on $addr (attempt $attempt; log: $LOGFILE)"
    setsid docker-registry serve "$DIR/config.yml" >"$LOGFILE" 2>&1 </dev/null &
    child=$!
    echo "$child" >"$PIDFILE"
    deadline=$(( SECONDS + READY_TIMEOUT_S ))
    while :; do
      status=$(v2_status "$addr")
      if [[ "$status" == "401" ]]; then
        {
          echo "SBX_REGISTRY=$addr"
          echo "SBX_REGISTRY_USER=$USER_NAME"
          echo "SBX_REGISTRY_PASSWORD=$password"
        } >"$ENVFILE"
        chmod 600 "$ENVFILE"
        log "docker-registry $child answers at $addr"
        return 0
      fi
      if ! kill -0 "$child" 2>/dev/null; then
        log "docker-registry exited: $(tail -n 3 "$LOGFILE" 2>/dev/null | tr '\n' ' ')"
        break  # most likely the port was taken meanwhile: another one
      fi
      if (( SECONDS >= deadline )); then
        kill -TERM "$child" 2>/dev/null || true
        tail -n 20 "$LOGFILE" >&2 || true
        die "docker-registry did not answer 401 on $addr within ${READY_TIMEOUT_S}s (last: $status)"
      fi
      sleep 0.1
    done
  done
  rm -f "$PIDFILE"
  die "docker-registry did not start after $PORT_ATTEMPTS attempts"
}

# The docker CLI on the test engine with a CLI config of our own (never ~/.docker).
docker_cli() {
  local cli=docker
  [[ -x /usr/bin/docker ]] && cli=/usr/bin/docker
  DOCKER_CONFIG="$DIR/docker-config" "$cli" -H "$ENGINE" "$@"
}

push_image() {
  # shellcheck source=/dev/null
  source "$ENVFILE"
  local image="$SBX_REGISTRY/$REPO_PATH"
  mkdir -p "$DIR/docker-config"
  docker_cli image inspect "$SOURCE_IMAGE" >/dev/null 2>&1 ||
    die "$SOURCE_IMAGE is not on the engine at $ENGINE (run scripts/docker-env.sh start first)"
  local tmp
  tmp=$(docker_cli create "$SOURCE_IMAGE" /bin/true) || die "docker create failed"
  if ! docker_cli export "$tmp" |
       docker_cli import -c 'ENV PATH=/bin' -m "sandboxd registry test image" - "$image" >/dev/null; then
    docker_cli rm -f "$tmp" >/dev/null 2>&1 || true
    die "docker import of $image failed"
  fi
  docker_cli rm -f "$tmp" >/dev/null
  printf '%s' "$SBX_REGISTRY_PASSWORD" |
    docker_cli login --username "$SBX_REGISTRY_USER" --password-stdin "$SBX_REGISTRY" >/dev/null 2>&1 ||
    die "docker login $SBX_REGISTRY failed"
  docker_cli push "$image" >/dev/null || die "docker push $image failed"
  docker_cli logout "$SBX_REGISTRY" >/dev/null 2>&1 || true
  local id
  id=$(docker_cli image inspect -f '{{.Id}}' "$image")
  docker_cli rmi -f "$id" >/dev/null || die "could not remove $image from the engine"
  echo "SBX_REGISTRY_IMAGE=$image" >>"$ENVFILE"
  log "pushed $image and removed it from the engine"
}

stop_registry() {
  local pid
  if pid=$(registry_pid); then
    log "stopping docker-registry $pid"
    kill -TERM "$pid"
    local deadline=$(( SECONDS + STOP_TIMEOUT_S ))
    while kill -0 "$pid" 2>/dev/null; do
      if (( SECONDS >= deadline )); then
        log "docker-registry $pid did not stop within ${STOP_TIMEOUT_S}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
  else
    log "no docker-registry running for $DIR"
  fi
  rm -f "$PIDFILE"
}

case "$CMD" in
  start)
    start_registry
    if [[ -n "$ENGINE" ]] && ! grep -q '^SBX_REGISTRY_IMAGE=' "$ENVFILE"; then push_image; fi
    cat "$ENVFILE"
    ;;
  stop)
    [[ -z "$ENGINE" ]] || usage
    stop_registry
    ;;
  *)
    usage
    ;;
esac
