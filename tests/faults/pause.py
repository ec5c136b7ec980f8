"""Run a command (a Celery worker) with one function that, after its Nth call, stops the
process where it is, so that a fault test can kill the worker at a known point of a job.

    ARBOR_TEST_PAUSE_AFTER=annotator.imports.job:_ImportRun.flush \\
    ARBOR_TEST_PAUSE_CALLS=1 ARBOR_TEST_PAUSE_FLAG=/tmp/paused \\
    python -m tests.faults.pause celery -A annotator worker ...

The flag file appears once the process has stopped there; it never goes on.
"""

import functools
import importlib
import os
import sys
import time
from pathlib import Path

import django


def _paused(function, calls: int, flag: Path):
    count = 0

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        nonlocal count
        result = function(*args, **kwargs)
        count += 1
        if count == calls:
            flag.write_text(str(os.getpid()))
            while True:  # until the test kills the process
                time.sleep(60)
        return result

    return wrapper


def main() -> None:
    django.setup()  # the target modules need the apps; Celery's set-up finds them ready
    module_name, attribute = os.environ["ARBOR_TEST_PAUSE_AFTER"].split(":")
    *path, name = attribute.split(".")
    owner = importlib.import_module(module_name)
    for part in path:
        owner = getattr(owner, part)
    calls = int(os.environ.get("ARBOR_TEST_PAUSE_CALLS", "1"))
    setattr(
        owner, name, _paused(getattr(owner, name), calls, Path(os.environ["ARBOR_TEST_PAUSE_FLAG"]))
    )
    # The worker's pool processes are forked from this one, and inherit the patch.
    from celery.__main__ import main as celery_main

    sys.argv = sys.argv[1:]
    celery_main()


if __name__ == "__main__":
    main()
