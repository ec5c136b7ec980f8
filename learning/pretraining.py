"""Training of a project's backbone, as a job: self-supervised on its own pool, or a
fine-tune on its human labels.

A lead asks with a time budget and a method; a worker on the ``training`` queue (CUDA
when it has it) claims the run through the job runner, trains the project's backbone
from the weights it uses now (``learning.core.pretrain``: SimCLR on every image, or
``finetune`` on the labelled ones with the hierarchical loss), writes the weights as a
safetensors file in ``ARBOR_WEIGHTS_DIR``, and makes them the project's backbone
weights: the embeddings under them are then computed as for any backbone change, and
the next round trains on them.
"""

import datetime as dt
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from annotator.exceptions import InvalidInput
from annotator.jobs import (
    Claim,
    Outcome,
    job_body_run,
    job_claim,
    job_held,
    job_send,
    jobs_recover,
)
from annotator.models import Item, Project
from learning.core.files import atomic_path
from learning.embeddings import (
    BackboneChoice,
    backbone_check,
    backbone_choice_get,
    backbone_choice_set,
)
from learning.labels import ProjectTaxonomy, human_labels
from learning.models import PretrainRun

MIN_BUDGET_SECONDS = 10
# A fine-tune on fewer labels than this would mostly learn their noise.
MIN_FINETUNE_LABELS = 20
# What the worker needs besides the training itself: building the backbone, the save.
OVERHEAD_SECONDS = 300


def _enqueue(run_id: int) -> None:
    from learning.tasks import pretrain  # the tasks module imports this one

    run = PretrainRun.objects.get(pk=run_id)
    limit = run.time_budget_s + OVERHEAD_SECONDS
    # The run's own limits: a budget of hours must not meet the default task limit.
    job_send(
        run, lambda: pretrain.apply_async((run_id,), soft_time_limit=limit, time_limit=limit + 60)
    )


def pretrain_run_request(
    *,
    project: Project,
    requested_by: AbstractBaseUser | None,
    time_budget_s: int,
    method: str = PretrainRun.Method.SIMCLR,
) -> tuple[PretrainRun, bool]:
    """Queue a training of the project's backbone, unless one is queued or running:
    ``(run, created)``. InvalidInput for a budget out of range, a backbone that cannot
    be trained (patch-kmeans learns no weights by gradient; missing weights), or a
    fine-tune with too few human labels."""
    if not MIN_BUDGET_SECONDS <= time_budget_s <= settings.ARBOR_PRETRAIN_MAX_SECONDS:
        raise InvalidInput(
            f"time_budget_s must be between {MIN_BUDGET_SECONDS} and "
            f"{settings.ARBOR_PRETRAIN_MAX_SECONDS} seconds."
        )
    choice = backbone_choice_get(project=project)
    backbone_check(choice)
    from learning.core.backbones import backbone_spec

    if backbone_spec(choice.name).fitted:
        raise InvalidInput(
            f"{choice.name} is fitted on the pool, not trained: choose a network backbone "
            "(small-resnet, resnet18, ...) to pretrain."
        )
    if method == PretrainRun.Method.FINETUNE:
        labels = len(human_labels(project, ProjectTaxonomy.current(project)))
        if labels < MIN_FINETUNE_LABELS:
            raise InvalidInput(
                f"Fine-tuning needs at least {MIN_FINETUNE_LABELS} human labels on the "
                f"current taxonomy; this project has {labels}. Label more, or pretrain "
                "with SimCLR, which needs none."
            )
    try:
        with transaction.atomic():
            run = PretrainRun.objects.create(
                project=project,
                requested_by=requested_by,
                time_budget_s=time_budget_s,
                method=method,
                backbone=choice.name,
                start_weights=choice.weights,
            )
    except IntegrityError:
        active = PretrainRun.objects.filter(
            project=project, state__in=PretrainRun.ACTIVE_STATES
        ).first()
        if active is None:  # it finished in between
            return pretrain_run_request(
                project=project,
                requested_by=requested_by,
                time_budget_s=time_budget_s,
                method=method,
            )
        return active, False
    transaction.on_commit(lambda: _enqueue(run.pk))
    return run, True


def _stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.ARBOR_TRAINING_STALE_SECONDS)


def pretrain_runs_recover() -> list[int]:
    """Send again the runs whose message or worker was lost (see ``jobs_recover``)."""
    return jobs_recover(PretrainRun, stale_after=_stale_after(), enqueue=_enqueue)


def _weights_name(run: PretrainRun, claim: Claim) -> str:
    # The claim's token too: a worker that lost the run deletes its own file, not the
    # file of the worker that took it over.
    backbone = run.backbone.replace(":", "_").replace("/", "_")
    return (
        f"project-{run.project_id}-{backbone}-pretrained-{run.pk}-{claim.token.hex[:8]}.safetensors"
    )


def _weights_write(state: dict, path: Path) -> None:
    """Atomically, as safetensors: the registry loads it as any local weights file."""
    from safetensors.torch import save_file

    # Copies: safetensors refuses tensors that share memory (tied weights).
    tensors = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in state.items()}
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary))


def _pretrain(run: PretrainRun, claim: Claim, *, deadline: float) -> tuple[str, dict]:
    """Train and write the weights; ``(file name, stats)``."""
    import numpy as np
    from PIL import Image
    from torch import nn

    from learning.core.backbones import backbone_create
    from learning.core.decode import image_decode
    from learning.core.pretrain import finetune, pretrain

    choice = BackboneChoice(run.backbone, run.start_weights)
    backbone = backbone_create(
        choice.name,
        weights=choice.weights_path,
        allow_downloads=settings.ARBOR_ALLOW_DOWNLOADS,
        weights_dir=Path(settings.ARBOR_WEIGHTS_DIR),
    )
    spec = backbone.spec
    storage = Item._meta.get_field("image").storage
    interpolation = Image.Resampling[spec.interpolation.upper()]

    def decode(name: str):
        with storage.open(name, "rb") as file:
            return image_decode(
                file, resize=spec.resize, crop=spec.crop, interpolation=interpolation
            )

    items = Item.objects.filter(project=run.project).order_by("pk")
    if run.method == PretrainRun.Method.FINETUNE:
        taxonomy = ProjectTaxonomy.current(run.project)
        labels = human_labels(run.project, taxonomy)
        names = dict(items.filter(pk__in=list(labels)).values_list("pk", "image"))
        # The labelled images only, in memory: a few thousand at the backbone's size.
        images = np.stack([decode(names[item]) for item in names])
        result = finetune(
            backbone,
            nn.Linear(backbone.embedding_dim, taxonomy.core.num_leaves),
            images,
            np.array([labels[item] for item in names], dtype=np.int64),
            taxonomy=taxonomy.core,
            time_budget_s=max(1.0, deadline - time.monotonic()),
            seed=run.pk,
        )
    else:
        result = pretrain(
            backbone,
            list(items.values_list("image", flat=True)),
            decode=decode,
            time_budget_s=max(1.0, deadline - time.monotonic()),
            seed=run.pk,
            input_size=spec.crop,
            batch_size=settings.ARBOR_PRETRAIN_BATCH_SIZE,
            workers=settings.ARBOR_DECODE_WORKERS,
        )
    if not result.steps:
        raise RuntimeError("The time budget ran out before the first step: give it more time.")
    name = _weights_name(run, claim)
    # The whole model: an open_clip backbone keeps its text tower for zero-shot use.
    _weights_write(backbone.model.state_dict(), Path(settings.ARBOR_WEIGHTS_DIR) / name)
    return name, result.stats()


def pretrain_run_execute(*, run_id: int) -> Outcome:
    """Run a pretraining once, through the job runner; on success switch the project's
    backbone to the new weights (which queues their embeddings)."""
    started = time.monotonic()
    claim = job_claim(PretrainRun, pk=run_id, stale_after=_stale_after())
    if claim is None:
        return Outcome.BUSY if job_held(PretrainRun, pk=run_id) else Outcome.SKIPPED
    run = PretrainRun.objects.select_related("project", "requested_by").get(pk=run_id)
    ran, result = job_body_run(
        claim,
        lambda: _pretrain(run, claim, deadline=started + run.time_budget_s),
        every=settings.ARBOR_TRAINING_HEARTBEAT_SECONDS,
    )
    if not ran:
        return Outcome.FAILED
    weights, stats = result
    if not claim.finish(state=PretrainRun.State.SUCCEEDED, weights=weights, stats=stats):
        # Another worker took the run over: its weights, not these, are the run's.
        (Path(settings.ARBOR_WEIGHTS_DIR) / weights).unlink(missing_ok=True)
        return Outcome.SKIPPED
    backbone_choice_set(
        project=run.project, name=run.backbone, weights=weights, actor=run.requested_by
    )
    return Outcome.DONE
