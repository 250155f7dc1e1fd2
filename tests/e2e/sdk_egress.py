#!/usr/bin/env python3
# The official OpenSandbox Python SDK creating a sandbox with a network policy against a
# live sandboxd whose egress.image is the stand-in sidecar (scripts/docker-env.sh): the
# create reaches Running (the SDK waits for endpoints 44772 and 18080, then execd /ping),
# the SDK reads the policy from the sidecar itself (endpoint 18080 with the
# OPENSANDBOX-EGRESS-AUTH header sandboxd hands out), patches and deletes rules through it,
# and kills the sandbox.
#
#   python sdk_egress.py --domain 127.0.0.1:PORT --image sandboxd-test/busybox:1
#
# Prints one line per check and `N passed, M failed`; exits 1 when a check failed.
import argparse
import logging
import sys
import time
from datetime import timedelta

from opensandbox.config.connection_sync import ConnectionConfigSync
from opensandbox.models.sandboxes import NetworkPolicy, NetworkRule
from opensandbox.sync.manager import SandboxManagerSync
from opensandbox.sync.sandbox import SandboxSync
from sdk_checks import FAILED, check, run, state_of, step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--domain", required=True)
    parser.add_argument("--image", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout,
                        format="sdk-log %(levelname)s %(name)s: %(message)s")
    config = ConnectionConfigSync(domain=args.domain, protocol="http",
                                  request_timeout=timedelta(seconds=60))
    manager = SandboxManagerSync.create(connection_config=config)
    policy = NetworkPolicy(defaultAction="deny",
                           egress=[NetworkRule(action="allow", target="pypi.org")])
    sandbox = FAILED
    try:
        started = time.monotonic()
        sandbox = step("create with a network policy", lambda: SandboxSync.create(
            args.image,
            entrypoint=["sleep", "3600"],
            resource={"cpu": "500m", "memory": "256Mi"},
            timeout=timedelta(minutes=10),
            ready_timeout=timedelta(seconds=60),
            network_policy=policy,
            connection_config=config,
        ))
        if sandbox is FAILED:
            return
        print(f"info create+ready took {time.monotonic() - started:.2f}s (id {sandbox.id})")
        check("state is Running", state_of(manager, sandbox.id) == "Running")
        ep = step("get_endpoint 18080", lambda: sandbox.get_endpoint(18080))
        if ep is not FAILED:
            check("endpoint 18080 carries OPENSANDBOX-EGRESS-AUTH",
                  bool((ep.headers or {}).get("OPENSANDBOX-EGRESS-AUTH")), str(ep.headers))
        got = step("get_egress_policy (from the sidecar)", sandbox.get_egress_policy)
        if got is not FAILED:
            check("the sidecar has the create's policy",
                  got.default_action == "deny" and got.egress is not None
                  and [(r.action, r.target) for r in got.egress] == [("allow", "pypi.org")],
                  str(got))
        step("patch_egress_rules", lambda: sandbox.patch_egress_rules(
            [NetworkRule(action="deny", target="*.example.com")]))
        step("delete_egress_rules", lambda: sandbox.delete_egress_rules(["*.example.com"]))
        check("is_healthy (execd /ping through the sidecar's ports)", sandbox.is_healthy())
    finally:
        if sandbox is not FAILED:
            step("kill", sandbox.kill)
            check("killed sandbox is gone",
                  state_of(manager, sandbox.id) in ("Terminated", "NotFound", "Stopping"))
            sandbox.close()
        manager.close()


if __name__ == "__main__":
    run(main)
