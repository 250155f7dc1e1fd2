#!/usr/bin/env python3
# The lifecycle part of the official OpenSandbox Python SDK (PyPI `opensandbox`), run
# against a live sandboxd: create (the SDK waits for readiness by itself: endpoints 44772
# and 18080, then GET http://{endpoint}/ping), get_info, get_endpoint, renew, pause, list
# by state and by metadata, resume (SandboxSync.resume also waits for /ping), kill.
#
#   python sdk_lifecycle.py --domain 127.0.0.1:PORT --image sandboxd-test/busybox:1
#                           [--use-server-proxy]
#
# With --use-server-proxy the SDK is configured with use_server_proxy=True: every endpoint it
# resolves is sandboxd's proxy route (127.0.0.1:PORT/v1/sandboxes/{id}/proxy/{port}: the SDK
# calls the API under /v1) and its
# readiness pings (create, resume) and is_healthy reach execd through the server proxy.
#
# Run by tests/e2e/sdk_test.cpp from a venv that has opensandbox installed. Prints one line
# per check and a last line `N passed, M failed`; exits 1 when any check failed (and 2 on
# bad arguments). Every sandbox it created is killed before it exits. Talks only to the
# domain given (127.0.0.1) and to the endpoints sandboxd returns for it.
import argparse
import logging
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
from sdk_checks import FAILED, check, run, state_of, step

EXECD_PORT = 44772
APP_PORT = 8080


def wait_for(what, fn, timeout_s, interval_s=0.2):
    """Polls fn() until it returns a truthy value or timeout_s passes; returns the last value."""
    deadline = time.monotonic() + timeout_s
    value = None
    while True:
        value = fn()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)


def ids_of(paged):
    return [info.id for info in paged.sandbox_infos]


def near(a, b, tolerance_s):
    return a is not None and b is not None and abs((a - b).total_seconds()) <= tolerance_s


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--domain", required=True, help="host:port of sandboxd (127.0.0.1:PORT)")
    parser.add_argument("--image", required=True)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--use-server-proxy", action="store_true")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout,
                        format="sdk-log %(levelname)s %(name)s: %(message)s")

    config = ConnectionConfigSync(domain=args.domain, protocol="http", api_key=args.api_key,
                                  request_timeout=timedelta(seconds=60),
                                  use_server_proxy=args.use_server_proxy)
    manager = SandboxManagerSync.create(connection_config=config)
    if args.api_key:
        # The server checks the key: a client without it is refused with 401.
        anonymous = SandboxManagerSync.create(connection_config=ConnectionConfigSync(
            domain=args.domain, protocol="http", request_timeout=timedelta(seconds=10)))
        try:
            anonymous.list_sandbox_infos(SandboxFilter())
            check("a client without the API key is refused", False, "the list succeeded")
        except SandboxApiException as e:
            check("a client without the API key is refused", e.status_code == 401,
                  f"status {e.status_code}: {e}")
        finally:
            anonymous.close()
    run_tag = uuid.uuid4().hex[:12]
    metadata = {"e2e-run": run_tag, "suite": "python-sdk"}
    created_ids = []
    sandbox = FAILED
    try:
        # --- create: the SDK posts, resolves endpoints 44772/18080, pings execd -----------
        started = time.monotonic()
        sandbox = step("create", lambda: SandboxSync.create(
            args.image,
            entrypoint=["sleep", "3600"],
            resource={"cpu": "500m", "memory": "256Mi"},
            timeout=timedelta(minutes=10),
            ready_timeout=timedelta(seconds=30),
            metadata=metadata,
            env={"E2E_RUN": run_tag},
            connection_config=config,
        ))
        if sandbox is FAILED:
            return
        created_ids.append(sandbox.id)
        print(f"info create+ready took {time.monotonic() - started:.2f}s (id {sandbox.id})")

        # --- get_info ------------------------------------------------------------------------
        info = step("get_info", sandbox.get_info)
        if info is not FAILED:
            check("get_info state is Running", info.status.state == "Running", info.status.state)
            check("get_info id", info.id == sandbox.id, info.id)
            check("get_info entrypoint", info.entrypoint == ["sleep", "3600"], str(info.entrypoint))
            check("get_info image", info.image is not None and info.image.image == args.image,
                  str(info.image))
            check("get_info metadata", (info.metadata or {}).get("e2e-run") == run_tag,
                  str(info.metadata))
            check("get_info expiresAt about now+10min",
                  near(info.expires_at, datetime.now(timezone.utc) + timedelta(minutes=10), 120),
                  str(info.expires_at))

        # --- endpoints -----------------------------------------------------------------------
        ep = step("get_endpoint 44772", lambda: sandbox.get_endpoint(EXECD_PORT))
        if ep is not FAILED and args.use_server_proxy:
            want = f"{args.domain}/v1/sandboxes/{sandbox.id}/proxy/{EXECD_PORT}"
            check("endpoint 44772 is the server proxy route", ep.endpoint == want,
                  f"{ep.endpoint} (want {want})")
        elif ep is not FAILED:
            check("endpoint 44772 is 127.0.0.1:<port>/proxy/44772",
                  re.fullmatch(r"127\.0\.0\.1:\d+/proxy/44772", ep.endpoint) is not None,
                  ep.endpoint)
        ep = step("get_endpoint 8080", lambda: sandbox.get_endpoint(APP_PORT))
        if ep is not FAILED and args.use_server_proxy:
            want = f"{args.domain}/v1/sandboxes/{sandbox.id}/proxy/{APP_PORT}"
            check("endpoint 8080 is the server proxy route", ep.endpoint == want,
                  f"{ep.endpoint} (want {want})")
        elif ep is not FAILED:
            check("endpoint 8080 is 127.0.0.1:<port>",
                  re.fullmatch(r"127\.0\.0\.1:\d+", ep.endpoint) is not None, ep.endpoint)
        check("is_healthy (execd /ping)", sandbox.is_healthy())

        # --- renew ---------------------------------------------------------------------------
        renewed = step("renew", lambda: sandbox.renew(timedelta(minutes=20)))
        if renewed is not FAILED:
            target = datetime.now(timezone.utc) + timedelta(minutes=20)
            check("renew expiresAt about now+20min", near(renewed.expires_at, target, 60),
                  str(renewed.expires_at))
            info = step("get_info after renew", sandbox.get_info)
            if info is not FAILED:
                check("get_info shows the renewed expiresAt",
                      near(info.expires_at, renewed.expires_at, 0.001),
                      f"{info.expires_at} vs {renewed.expires_at}")

        # --- pause ---------------------------------------------------------------------------
        if step("pause", sandbox.pause) is not FAILED:
            paused = wait_for("Paused", lambda: state_of(manager, sandbox.id) == "Paused", 20)
            check("state Paused after pause", paused, state_of(manager, sandbox.id))

        # --- list by state and by metadata ---------------------------------------------------
        by_meta = {"e2e-run": run_tag}
        paged = step("list Paused+metadata", lambda: manager.list_sandbox_infos(
            SandboxFilter(states=["Paused"], metadata=by_meta)))
        if paged is not FAILED:
            check("list Paused+metadata finds it", ids_of(paged) == [sandbox.id],
                  str(ids_of(paged)))
        paged = step("list Running+metadata", lambda: manager.list_sandbox_infos(
            SandboxFilter(states=["Running"], metadata=by_meta)))
        if paged is not FAILED:
            check("list Running+metadata is empty while paused", ids_of(paged) == [],
                  str(ids_of(paged)))
        paged = step("list Paused", lambda: manager.list_sandbox_infos(
            SandboxFilter(states=["Paused"], page_size=200)))
        if paged is not FAILED:
            check("list Paused contains it", sandbox.id in ids_of(paged), str(ids_of(paged)))
            check("list Paused has only Paused",
                  all(i.status.state == "Paused" for i in paged.sandbox_infos))

        # --- resume: the SDK resumes, re-resolves the endpoint and pings again ---------------
        resumed = step("resume", lambda: SandboxSync.resume(
            sandbox.id, connection_config=config, resume_timeout=timedelta(seconds=30)))
        if resumed is not FAILED:
            sandbox = resumed
            check("state Running after resume", state_of(manager, sandbox.id) == "Running")

        paged = step("list by metadata", lambda: manager.list_sandbox_infos(
            SandboxFilter(metadata=by_meta)))
        if paged is not FAILED:
            check("list by metadata finds exactly it", ids_of(paged) == [sandbox.id],
                  str(ids_of(paged)))
            check("list pagination totalItems", paged.pagination.total_items == 1,
                  str(paged.pagination))
        paged = step("list by two metadata keys", lambda: manager.list_sandbox_infos(
            SandboxFilter(metadata={"e2e-run": run_tag, "suite": "python-sdk"})))
        if paged is not FAILED:
            check("list by two metadata keys finds it", ids_of(paged) == [sandbox.id],
                  str(ids_of(paged)))
        paged = step("list by other metadata", lambda: manager.list_sandbox_infos(
            SandboxFilter(metadata={"e2e-run": run_tag + "-other"})))
        if paged is not FAILED:
            check("list by other metadata is empty", ids_of(paged) == [], str(ids_of(paged)))
        paged = step("list Running", lambda: manager.list_sandbox_infos(
            SandboxFilter(states=["Running"], metadata=by_meta)))
        if paged is not FAILED:
            check("list Running+metadata finds it", ids_of(paged) == [sandbox.id],
                  str(ids_of(paged)))

        # --- kill ----------------------------------------------------------------------------
        if step("kill", sandbox.kill) is not FAILED:
            created_ids.remove(sandbox.id)
            gone = wait_for("gone", lambda: state_of(manager, sandbox.id) in
                            ("NotFound", "Terminated"), 20)
            check("killed sandbox is gone (404)", gone, str(state_of(manager, sandbox.id)))
            paged = step("list after kill", lambda: manager.list_sandbox_infos(
                SandboxFilter(metadata=by_meta)))
            if paged is not FAILED:
                check("list after kill is empty", ids_of(paged) == [], str(ids_of(paged)))
    finally:
        for sid in created_ids:
            try:
                manager.kill_sandbox(sid)
            except Exception as e:  # noqa: BLE001 - cleanup is best effort, reported
                print(f"cleanup: kill {sid} failed: {e}")
        if sandbox is not FAILED:
            sandbox.close()
        manager.close()


if __name__ == "__main__":
    run(main)
