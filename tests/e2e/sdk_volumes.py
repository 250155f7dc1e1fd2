#!/usr/bin/env python3
# The official OpenSandbox Python SDK (PyPI `opensandbox`) creating sandboxes with host
# volumes against a live sandboxd whose storage.allowed_host_paths holds --allowed:
#   - a read-write volume: the sandbox's entrypoint writes a file into it, the script reads
#     it on the host; a read-only one next to it, which the entrypoint cannot write;
#   - a host path outside the allowlist: the create is refused (400
#     VOLUME::HOST_PATH_NOT_ALLOWED) and nothing runs.
#
#   python sdk_volumes.py --domain 127.0.0.1:PORT --image IMG --allowed DIR
#
# Prints one line per check and a last line `N passed, M failed`; exits 1 when any check
# failed. Every sandbox it created is killed before it exits. Talks only to the domain
# given (127.0.0.1) and to the endpoints sandboxd returns for it.
import argparse
import os
import time
from datetime import timedelta

from opensandbox.config.connection_sync import ConnectionConfigSync
from opensandbox.exceptions import SandboxApiException
from opensandbox.models.sandboxes import Host, SandboxFilter, Volume
from opensandbox.sync.manager import SandboxManagerSync
from opensandbox.sync.sandbox import SandboxSync
from sdk_checks import FAILED, check, run, step


def wait_for_file(path, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            if text.endswith("\n"):
                return text
        time.sleep(0.2)
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--domain", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--allowed", required=True, help="a directory under allowed_host_paths")
    parser.add_argument("--outside", required=True, help="a directory outside of it")
    args = parser.parse_args()

    config = ConnectionConfigSync(domain=args.domain, protocol="http",
                                  request_timeout=timedelta(seconds=60))
    manager = SandboxManagerSync.create(connection_config=config)
    rw = os.path.join(args.allowed, "rw")
    ro = os.path.join(args.allowed, "ro")
    os.makedirs(rw, exist_ok=True)
    os.makedirs(ro, exist_ok=True)
    with open(os.path.join(ro, "given.txt"), "w") as f:
        f.write("from-host\n")
    created = []
    try:
        script = ("cat /mnt/ro/given.txt > /mnt/rw/copied.txt; "
                  "if echo x > /mnt/ro/evil.txt; then echo ro-writable; else echo ro-refused; fi"
                  " > /mnt/rw/ro-result.txt; exec sleep 3600")
        sandbox = step("create with host volumes", lambda: SandboxSync.create(
            args.image,
            entrypoint=["sh", "-c", script],
            resource={"cpu": "500m", "memory": "256Mi"},
            timeout=timedelta(minutes=10),
            ready_timeout=timedelta(seconds=30),
            volumes=[
                Volume(name="rw", host=Host(path=rw), mount_path="/mnt/rw"),
                Volume(name="ro", host=Host(path=ro), mount_path="/mnt/ro", read_only=True),
            ],
            connection_config=config,
        ))
        if sandbox is FAILED:
            return
        created.append(sandbox.id)
        copied = wait_for_file(os.path.join(rw, "copied.txt"), 20)
        check("the sandbox wrote into the read-write volume", copied == "from-host\n", repr(copied))
        result = wait_for_file(os.path.join(rw, "ro-result.txt"), 20)
        check("the read-only volume refused the write", result == "ro-refused\n", repr(result))
        check("nothing appeared in the read-only directory",
              not os.path.exists(os.path.join(ro, "evil.txt")))

        before = {s.id for s in manager.list_sandbox_infos(SandboxFilter()).sandbox_infos}
        try:
            SandboxSync.create(
                args.image, entrypoint=["sleep", "3600"], resource={"cpu": "500m"},
                timeout=timedelta(minutes=10), ready_timeout=timedelta(seconds=10),
                volumes=[Volume(name="x", host=Host(path=args.outside), mount_path="/mnt/x")],
                connection_config=config)
            check("a host path outside the allowlist is refused", False, "the create succeeded")
        except SandboxApiException as e:
            raw = e.response_body or b""
            body = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
            text = f"{e} {body}"
            check("a host path outside the allowlist is refused with 400",
                  e.status_code == 400, f"status {e.status_code}: {text}")
            check("... with VOLUME::HOST_PATH_NOT_ALLOWED", "VOLUME::HOST_PATH_NOT_ALLOWED" in text,
                  text)
        after = {s.id for s in manager.list_sandbox_infos(SandboxFilter()).sandbox_infos}
        check("the refused create made no sandbox", after - before - set(created) == set(),
              str(after - before))

        if step("kill", sandbox.kill) is not FAILED:
            created.remove(sandbox.id)
    finally:
        for sid in created:
            try:
                manager.kill_sandbox(sid)
            except Exception as e:  # noqa: BLE001
                print(f"cleanup: kill {sid} failed: {e}")
        manager.close()


if __name__ == "__main__":
    run(main)
