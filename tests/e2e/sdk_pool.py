#!/usr/bin/env python3
# The official OpenSandbox Python SDK (PyPI `opensandbox`) taking sandboxes from a warm pool
# of a live sandboxd (issue 14). The pool is made over HTTP first (the SDK has no pool
# calls); its template uses the SDK's own defaults for the entrypoint and the resources, so
# that `SandboxSync.create(image, extensions={"poolRef": ...})` asks for nothing a member
# does not have:
#   - the create answers with a claimed member: the SDK's readiness check (execd's /ping
#     through the endpoint sandboxd returns) passes at once, the metadata given is there;
#   - a create whose entrypoint differs from the pool's is refused (400 naming entrypoint);
#   - kill works as for any sandbox, and the pool refills.
#
#   python sdk_pool.py --domain 127.0.0.1:PORT --image IMG
#
# Prints one line per check and a last line `N passed, M failed`; exits 1 when any check
# failed. Every sandbox it created is killed and the pool deleted before it exits. Talks
# only to the domain given (127.0.0.1) and to the endpoints sandboxd returns for it.
import argparse
import json
import time
import urllib.request
from datetime import timedelta

from opensandbox.config.connection_sync import ConnectionConfigSync
from opensandbox.exceptions import SandboxApiException
from opensandbox.sync.manager import SandboxManagerSync
from opensandbox.sync.sandbox import SandboxSync
from sdk_checks import FAILED, check, run, step

SDK_ENTRYPOINT = ["tail", "-f", "/dev/null"]
SDK_RESOURCE = {"cpu": "1", "memory": "2Gi"}


def http(domain, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{domain}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


def wait_available(domain, name, n, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = http(domain, "GET", f"/v1/pools/{name}")
        if status == 200 and body["status"]["available"] >= n:
            return True
        time.sleep(0.2)
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--domain", required=True)
    parser.add_argument("--image", required=True)
    args = parser.parse_args()

    pool = "sdk"
    status, body = http(args.domain, "POST", "/v1/pools", {
        "name": pool,
        "template": {"image": {"uri": args.image}, "entrypoint": SDK_ENTRYPOINT,
                     "resourceLimits": SDK_RESOURCE, "env": {"FROM_POOL": "yes"}},
        "capacitySpec": {"bufferMin": 2, "bufferMax": 2, "poolMin": 0, "poolMax": 4},
    })
    check("the pool is created (201)", status == 201, f"{status} {body}")
    check("the pool fills", wait_available(args.domain, pool, 2, 90))

    config = ConnectionConfigSync(domain=args.domain, protocol="http",
                                  request_timeout=timedelta(seconds=60))
    manager = SandboxManagerSync.create(connection_config=config)
    created = []
    try:
        started = time.monotonic()
        sandbox = step("create from the pool (readiness checked by the SDK)",
                       lambda: SandboxSync.create(
                           args.image, extensions={"poolRef": pool},
                           metadata={"via": "sdk-pool"}, timeout=timedelta(minutes=10),
                           ready_timeout=timedelta(seconds=30), connection_config=config))
        if sandbox is FAILED:
            return
        took = time.monotonic() - started
        created.append(sandbox.id)
        print(f"create from the pool until ready: {took * 1000:.0f} ms", flush=True)
        info = manager.get_sandbox_info(sandbox.id)
        check("it is Running", info.status.state == "Running", info.status.state)
        check("it carries the metadata given", (info.metadata or {}).get("via") == "sdk-pool",
              str(info.metadata))
        check("its execd answered the SDK's readiness check at once", took < 5, f"{took:.2f} s")
        try:
            SandboxSync.create(args.image, extensions={"poolRef": pool},
                               entrypoint=["sleep", "3600"], timeout=timedelta(minutes=10),
                               ready_timeout=timedelta(seconds=10), connection_config=config)
            check("a different entrypoint is refused", False, "the create succeeded")
        except SandboxApiException as e:
            raw = e.response_body or b""
            text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
            check("a different entrypoint is refused with 400 naming it",
                  e.status_code == 400 and "entrypoint" in text, f"{e.status_code}: {text}")

        if step("kill", sandbox.kill) is not FAILED:
            created.remove(sandbox.id)
        check("the pool refills", wait_available(args.domain, pool, 2, 90))
    finally:
        for sid in created:
            try:
                manager.kill_sandbox(sid)
            except Exception as e:  # noqa: BLE001
                print(f"cleanup: kill {sid} failed: {e}")
        manager.close()
        status, _ = http(args.domain, "DELETE", f"/v1/pools/{pool}")
        check("the pool is deleted (204)", status == 204, str(status))


if __name__ == "__main__":
    run(main)
