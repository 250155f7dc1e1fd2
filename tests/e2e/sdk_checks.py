# The reporting helpers of the SDK scenario scripts (tests/e2e/sdk_lifecycle.py on Docker,
# tests/kubernetes/sdk_kubernetes.py on Kubernetes): one line per check, a final
# `N passed, M failed` line and the exit status, and a step() that turns an exception into
# one failed check.
import sys
import traceback

from opensandbox.exceptions import SandboxApiException

counts = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        counts["passed"] += 1
        print(f"PASS {name}", flush=True)
    else:
        counts["failed"] += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


class Failed:
    """What step() returns when its call raised."""


FAILED = Failed()


def step(name, fn):
    """Runs fn(); an exception is one failed check named `name` and gives FAILED."""
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001 - every SDK failure is a reportable check failure
        check(name, False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        return FAILED
    check(name, True)
    return value


def state_of(manager, sandbox_id):
    try:
        return manager.get_sandbox_info(sandbox_id).status.state
    except SandboxApiException as e:
        if e.status_code == 404:
            return "NotFound"
        raise


def run(main):
    """Runs main(), prints the totals and exits 0 only when something passed and nothing failed."""
    try:
        main()
    except Exception as e:  # noqa: BLE001
        check("script", False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    print(f"{counts['passed']} passed, {counts['failed']} failed", flush=True)
    sys.exit(0 if counts["failed"] == 0 and counts["passed"] > 0 else 1)
