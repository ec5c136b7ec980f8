"""The one job runner behind imports, exports and training runs."""

import datetime as dt

import pytest
from django.utils import timezone

from annotator.jobs import job_claim, jobs_recover
from annotator.models import Export, ImportJob
from learning.models import TrainingRun
from tests.factories import ProjectFactory, taxonomy_build

STALE = dt.timedelta(minutes=1)
KINDS = [Export, ImportJob, TrainingRun]


def _job(model, project):
    if model is Export:
        return Export.objects.create(
            project=project, format="csv", taxonomy=project.taxonomies.get()
        )
    if model is ImportJob:
        return ImportJob.objects.create(project=project, source="/nowhere.zip")
    return TrainingRun.objects.create(project=project, trigger="manual")


def _project():
    project = ProjectFactory()
    taxonomy_build(project)
    return project


def _age(job, **fields):
    type(job).objects.filter(pk=job.pk).update(**fields)


@pytest.mark.parametrize("model", KINDS)
def test_one_claim_wins_and_a_second_delivery_gets_none(project, model):
    job = _job(model, project)
    first = job_claim(model, pk=job.pk, stale_after=STALE)
    assert first is not None
    assert job_claim(model, pk=job.pk, stale_after=STALE) is None
    job.refresh_from_db()
    assert (job.state, job.attempts, job.claim) == ("running", 1, first.token)


@pytest.mark.parametrize("model", KINDS)
def test_a_stale_job_is_taken_over_and_the_old_claim_is_fenced_out(project, model):
    job = _job(model, project)
    old = job_claim(model, pk=job.pk, stale_after=STALE)
    _age(job, heartbeat_at=timezone.now() - 2 * STALE)

    new = job_claim(model, pk=job.pk, stale_after=STALE)
    assert new is not None and new.token != old.token
    # The first worker wakes up: none of its writes lands.
    assert old.beat() is False
    assert old.finish(state="succeeded") is False
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("running", 2)
    assert new.finish(state="succeeded") is True
    job.refresh_from_db()
    assert job.state == "succeeded" and job.finished_at is not None


@pytest.mark.parametrize("model", KINDS)
def test_a_job_whose_worker_keeps_dying_is_given_up(project, model):
    job = _job(model, project)
    for _ in range(model.max_attempts):
        assert job_claim(model, pk=job.pk, stale_after=STALE) is not None
        _age(job, heartbeat_at=timezone.now() - 2 * STALE)

    assert job_claim(model, pk=job.pk, stale_after=STALE) is None
    job.refresh_from_db()
    assert job.state == "failed"
    assert f"Gave up after {model.max_attempts} attempts" in job.error


@pytest.mark.django_db
@pytest.mark.parametrize("model", KINDS)
def test_recovery_sends_again_lost_messages_and_dead_workers_only(model):
    # One project each: a project has one active training run at a time.
    lost_message, dead_worker, fresh, live = (_job(model, _project()) for _ in range(4))
    _age(lost_message, created_at=timezone.now() - 2 * STALE)
    for running in (dead_worker, live):
        job_claim(model, pk=running.pk, stale_after=STALE)
    _age(dead_worker, heartbeat_at=timezone.now() - 2 * STALE)
    sent: list[int] = []

    recovered = jobs_recover(model, stale_after=STALE, enqueue=sent.append)

    assert sorted(recovered) == sorted(sent) == sorted([lost_message.pk, dead_worker.pk])


def test_recovery_fails_a_job_out_of_attempts_and_calls_its_give_up(project):
    job = _job(ImportJob, project)
    _age(
        job,
        state="running",
        attempts=ImportJob.max_attempts,
        heartbeat_at=timezone.now() - 2 * STALE,
    )
    given_up, sent = [], []

    assert (
        jobs_recover(ImportJob, stale_after=STALE, enqueue=sent.append, on_give_up=given_up.append)
        == []
    )
    assert sent == [] and [j.pk for j in given_up] == [job.pk]
    job.refresh_from_db()
    assert job.state == "failed"
