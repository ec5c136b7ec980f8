"""Helpers for tests that start real processes (a Celery worker, the demo)."""

import subprocess
import time


def wait_for(condition, timeout: float, what: str):
    """``condition()``'s first truthy result within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def child_pids(pid: int) -> list[int]:
    output = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [int(child) for child in output.split()]
