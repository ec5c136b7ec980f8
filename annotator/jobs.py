"""One job runner for the work the Celery workers do: imports, exports, training runs.

A job row is claimed by compare-and-swap, so a redelivered message never runs it twice;
the claim carries a fresh token, and every later write of the worker (heartbeat,
progress, the final state) is fenced on it, so a worker that lost its claim writes
nothing. A running job whose heartbeat went stale (its worker died) is taken over by
the next delivery or by the periodic recovery, at most ``max_attempts`` times in all.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.db.models import F, Q
from django.utils import timezone

logger = logging.getLogger(__name__)


class Job(models.Model):
    """What every kind of job records: its state, its claim and its attempts."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    # A job whose worker died this many times is failed for good, not run again.
    max_attempts = 3

    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Claims so far")
    claim = models.UUIDField(null=True, blank=True, help_text="Token of the current claim")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why it failed, if it did")

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class Outcome(enum.StrEnum):
    """What one delivery of a job's message did."""

    DONE = "done"
    FAILED = "failed"
    BUSY = "busy"  # another worker holds a live claim: look again once it could be stale
    SKIPPED = "skipped"  # finished already, or given up


def _stale(model: type[Job], stale_after: dt.timedelta, now: dt.datetime) -> Q:
    return Q(state=model.State.RUNNING, heartbeat_at__lt=now - stale_after)


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one job; its writes land only while it still holds it."""

    model: type[Job]
    pk: int
    token: uuid.UUID

    def _mine(self):
        return self.model.objects.filter(pk=self.pk, claim=self.token, state=Job.State.RUNNING)

    def beat(self, **progress: Any) -> bool:
        """Heartbeat, with any progress fields; False when the claim was lost."""
        return bool(self._mine().update(heartbeat_at=timezone.now(), **progress))

    def finish(self, *, state: str, **fields: Any) -> bool:
        """The fenced final write; False (nothing written) when the claim was lost."""
        if "error" in fields:
            fields["error"] = fields["error"][:4000]
        return bool(self._mine().update(state=state, finished_at=timezone.now(), **fields))


def job_claim(
    model: type[Job], *, pk: int, stale_after: dt.timedelta, **reset: Any
) -> Claim | None:
    """Claim a queued job, or take over a running one whose worker stopped beating.

    ``reset`` fields are written with the claim (progress that a takeover starts over).
    None when the job is not claimable: finished, held by a live worker, or out of
    attempts (then it is failed for good).
    """
    now = timezone.now()
    token = uuid.uuid4()
    claimable = Q(state=model.State.QUEUED) | _stale(model, stale_after, now)
    claimed = model.objects.filter(claimable, pk=pk, attempts__lt=model.max_attempts).update(
        state=model.State.RUNNING,
        claim=token,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        **reset,
    )
    if claimed:
        return Claim(model=model, pk=pk, token=token)
    _give_up(model, Q(pk=pk) & (Q(state=model.State.QUEUED) | _stale(model, stale_after, now)))
    return None


def _give_up(model: type[Job], which: Q) -> list[int]:
    """Fail the jobs among ``which`` that used all their attempts; their ids."""
    spent = model.objects.filter(which, attempts__gte=model.max_attempts)
    ids = list(spent.values_list("pk", flat=True))
    model.objects.filter(pk__in=ids, state__in=model.ACTIVE_STATES).update(
        state=model.State.FAILED,
        finished_at=timezone.now(),
        claim=None,
        error=f"Gave up after {model.max_attempts} attempts: the worker stopped each time.",
    )
    return ids


def job_held(model: type[Job], *, pk: int) -> bool:
    """Whether a worker is running the job now (its claim may still go stale)."""
    return model.objects.filter(pk=pk, state=model.State.RUNNING).exists()


def jobs_recover(
    model: type[Job],
    *,
    stale_after: dt.timedelta,
    enqueue: Callable[[int], None],
    on_give_up: Callable[[Job], None] | None = None,
) -> list[int]:
    """Send again the jobs whose message or worker was lost; the ids sent.

    A job queued for longer than ``stale_after`` may have lost its message (a broker
    flushed, an enqueue that failed after commit), and a running job that stopped
    beating lost its worker. Sending a message again is safe: the claim lets one
    delivery run the job. Jobs out of attempts are failed instead.
    """
    now = timezone.now()
    lost = Q(state=model.State.QUEUED, created_at__lt=now - stale_after) | _stale(
        model, stale_after, now
    )
    given_up = _give_up(model, lost)
    if on_give_up is not None:
        for job in model.objects.filter(pk__in=given_up):
            on_give_up(job)
    ids = list(model.objects.filter(lost).values_list("pk", flat=True))
    for pk in ids:
        logger.warning("%s %s lost its message or its worker; sent again", model.__name__, pk)
        enqueue(pk)
    return ids


def job_body_run(claim: Claim, body: Callable[[], Any], *, every: float) -> tuple[bool, Any]:
    """Run ``body`` while ``claim`` beats every ``every`` seconds: ``(True, its result)``.
    A failure, the task's time limit included, finishes the job as failed with the error
    a lead reads: ``(False, None)``."""
    from celery.exceptions import SoftTimeLimitExceeded

    try:
        with job_heartbeat(claim, every=every):
            return True, body()
    except SoftTimeLimitExceeded:
        claim.finish(state=Job.State.FAILED, error="Time limit")
    except Exception as error:
        logger.exception("%s %s failed", claim.model.__name__, claim.pk)
        claim.finish(state=Job.State.FAILED, error=f"{type(error).__name__}: {error}")
    return False, None


def job_send(job: Job, send: Callable[[], object]) -> None:
    """Hand ``job``'s message to the broker. With the broker down the job stays queued
    and ``jobs_recover`` sends it again once it is back: failing the request, or the
    job, over an outage would only lose work."""
    try:
        send()
    except Exception:
        logger.exception(
            "%s %s could not be queued; recovery will send it", type(job).__name__, job.pk
        )


@contextmanager
def job_heartbeat(claim: Claim, *, every: float) -> Iterator[None]:
    """Beat from a thread while the body runs: a worker that dies stops beating, which
    is how a dead job is told from a long one."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                claim.beat()
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{claim.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
