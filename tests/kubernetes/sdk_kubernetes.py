#!/usr/bin/env python3
# The official OpenSandbox Python SDK (PyPI `opensandbox`) against sandboxd on Kubernetes:
# create (the SDK's own readiness wait: endpoints, then GET http://{endpoint}/ping, which
# reaches the test's stand-in execd bound on the "pod IP" 127.0.0.N:44772), get_info,
# get_endpoint (direct ingress: {podIP}:{port}), is_healthy, renew, pause (refused on
# Kubernetes with 501 KUBERNETES::PAUSE_NOT_SUPPORTED), list by metadata, kill.
#
#   python sdk_kubernetes.py --domain 127.0.0.1:PORT --image IMAGE [--api-key KEY]
#
# Run by tests/kubernetes/sdk_kubernetes_test.cpp. Prints one line per check and a last
# line `N passed, M failed`; exits 1 when any check failed. Kills what it created.
import argparse
import os
import re
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

from opensandbox.config.connection_sync import ConnectionConfigSync
from opensandbox.exceptions import SandboxApiException
from opensandbox.models.sandboxes import SandboxFilter
from opensandbox.sync.manager import SandboxManagerSync
from opensandbox.sync.sandbox import SandboxSync

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from sdk_checks import FAILED, check, run, state_of, step  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--domain", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()

    config = ConnectionConfigSync(domain=args.domain, protocol="http", api_key=args.api_key,
                                  request_timeout=timedelta(seconds=60))
    manager = SandboxManagerSync.create(connection_config=config)
    run_tag = uuid.uuid4().hex[:12]
    created = []
    sandbox = FAILED
    try:
        started = time.monotonic()
        sandbox = step("create (waits for execd /ping on the pod IP)", lambda: SandboxSync.create(
            args.image,
            entrypoint=["sleep", "3600"],
            resource={"cpu": "500m", "memory": "256Mi"},
            timeout=timedelta(minutes=10),
            ready_timeout=timedelta(seconds=30),
            metadata={"e2e-run": run_tag},
            env={"E2E_RUN": run_tag},
            connection_config=config,
        ))
        if sandbox is FAILED:
            return
        created.append(sandbox.id)
        print(f"info create+ready took {time.monotonic() - started:.2f}s (id {sandbox.id})")

        info = step("get_info", sandbox.get_info)
        if info is not FAILED:
            check("state Running", info.status.state == "Running", info.status.state)
            check("metadata", (info.metadata or {}).get("e2e-run") == run_tag, str(info.metadata))

        ep = step("get_endpoint 44772", lambda: sandbox.get_endpoint(44772))
        if ep is not FAILED:
            check("endpoint 44772 is the pod IP", re.fullmatch(r"127\.0\.0\.\d+:44772", ep.endpoint)
                  is not None, ep.endpoint)
        ep = step("get_endpoint 8080", lambda: sandbox.get_endpoint(8080))
        if ep is not FAILED:
            check("endpoint 8080 is the pod IP", re.fullmatch(r"127\.0\.0\.\d+:8080", ep.endpoint)
                  is not None, ep.endpoint)
        check("is_healthy (execd /ping on the pod IP)", sandbox.is_healthy())

        renewed = step("renew", lambda: sandbox.renew(timedelta(minutes=20)))
        if renewed is not FAILED:
            target = datetime.now(timezone.utc) + timedelta(minutes=20)
            check("renew expiresAt about now+20min",
                  abs((renewed.expires_at - target).total_seconds()) <= 60, str(renewed.expires_at))

        try:
            sandbox.pause()
            check("pause is refused on Kubernetes", False, "pause succeeded")
        except SandboxApiException as e:
            check("pause is refused on Kubernetes with 501", e.status_code == 501,
                  f"status {e.status_code}: {e}")
            check("pause refusal names KUBERNETES::PAUSE_NOT_SUPPORTED",
                  "KUBERNETES::PAUSE_NOT_SUPPORTED" in str(e), str(e))
        except Exception as e:  # noqa: BLE001
            check("pause is refused on Kubernetes", False, f"{type(e).__name__}: {e}")

        paged = step("list by metadata", lambda: manager.list_sandbox_infos(
            SandboxFilter(metadata={"e2e-run": run_tag})))
        if paged is not FAILED:
            check("list by metadata finds it", [i.id for i in paged.sandbox_infos] == [sandbox.id],
                  str([i.id for i in paged.sandbox_infos]))

        if step("kill", sandbox.kill) is not FAILED:
            created.remove(sandbox.id)
            deadline = time.monotonic() + 20
            while state_of(manager, sandbox.id) not in ("NotFound", "Terminated") \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
            check("killed sandbox is gone", state_of(manager, sandbox.id) in
                  ("NotFound", "Terminated"), state_of(manager, sandbox.id))
    finally:
        for sid in created:
            try:
                manager.kill_sandbox(sid)
            except Exception as e:  # noqa: BLE001 - best effort, reported
                print(f"cleanup: kill {sid} failed: {e}")
        if sandbox is not FAILED:
            sandbox.close()
        manager.close()


if __name__ == "__main__":
    run(main)
