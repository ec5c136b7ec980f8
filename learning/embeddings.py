"""A project's embeddings: its backbone, and one row per item computed as images arrive.

Rows are kept per backbone and weights file in float16 chunks under the project's
folder (``learning.core.embedding_store``): a worker embeds only the items missing, so
a new import costs its own images and a killed worker resumes where it stopped. Images
are read through the item field's storage and decoded batch by batch at the backbone's
resolution; no pixels of the pool are kept. torch is imported only where a backbone is
built or checked, so the web process loads it only when a lead changes the backbone.
"""

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotator.exceptions import InvalidInput
from annotator.models import Item, Project
from learning.core.embedding_store import EmbeddingStore
from learning.core.files import atomic_path
from learning.models import ProjectBackbone

logger = logging.getLogger(__name__)

FIT_SAMPLE = 5000  # pool images the patch k-means dictionary is fitted on


def project_folder(project: Project) -> Path:
    """The project's folder for its embeddings and checkpoints."""
    folder = Path(settings.MEDIA_ROOT) / "learning" / f"project-{project.pk}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class BackboneChoice:
    name: str
    weights: str = ""  # a file name in ARBOR_WEIGHTS_DIR; "": the standard weights

    @property
    def weights_path(self) -> Path | None:
        return Path(settings.ARBOR_WEIGHTS_DIR) / self.weights if self.weights else None

    @property
    def key(self) -> str:
        """The store's folder name: a new weights file (even under an old name) is a new one."""
        path = self.weights_path
        if path is None:
            return self.name.replace(":", "_").replace("/", "_")
        stat = path.stat()
        digest = hashlib.sha256(f"{path.name}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
        return f"{self.name.replace(':', '_').replace('/', '_')}-{digest.hexdigest()[:12]}"


def backbone_choice_get(*, project: Project) -> BackboneChoice:
    row = ProjectBackbone.objects.filter(project=project).first()
    if row is None:
        return BackboneChoice(settings.ARBOR_DEFAULT_BACKBONE)
    return BackboneChoice(row.name, row.weights)


def backbone_check(choice: BackboneChoice) -> None:
    """InvalidInput (400) for an unknown backbone or weights that are not where expected."""
    from learning.core.backbones import WeightsMissing, backbone_spec, weights_locate

    if choice.weights and Path(choice.weights).name != choice.weights:
        raise InvalidInput(f"weights must be a file name in {settings.ARBOR_WEIGHTS_DIR}.")
    try:
        weights_locate(
            backbone_spec(choice.name),
            choice.weights_path,
            allow_downloads=settings.ARBOR_ALLOW_DOWNLOADS,
            fetch=False,
            weights_dir=Path(settings.ARBOR_WEIGHTS_DIR),
        )
    except (ValueError, WeightsMissing) as error:
        raise InvalidInput(str(error)) from error


def backbone_choices() -> list[dict]:
    """The built-in backbones with their one-line summaries, and the extras installed."""
    from learning.core.backbones import BUILT_IN, extras_available

    return [
        {"name": spec.name, "summary": spec.summary, "input_size": spec.crop}
        for spec in BUILT_IN.values()
    ] + [
        {"name": f"{prefix}:<model>", "summary": f"any {prefix} model, by name", "input_size": 0}
        for prefix in extras_available()
    ]


def backbone_choice_set(
    *, project: Project, name: str, weights: str, actor: AbstractBaseUser | None
) -> BackboneChoice:
    """Choose the project's backbone; the embeddings for it are computed on the worker."""
    choice = BackboneChoice(name, weights)
    backbone_check(choice)
    ProjectBackbone.objects.update_or_create(
        project=project, defaults={"name": name, "weights": weights, "updated_by": actor}
    )
    transaction.on_commit(lambda: embeddings_request(project_id=project.pk))
    return choice


def embeddings_request(*, project_id: int, **_signal) -> None:
    """Queue the embedding of a project's new items (``annotator.signals.images_imported``)."""
    from learning.tasks import embeddings_compute  # the tasks module imports this one

    try:
        embeddings_compute.delay(project_id)
    except Exception:
        # No broker: the next training round embeds what is missing before it trains.
        logger.exception("Embeddings of project %s could not be queued", project_id)


def _store(project: Project, choice: BackboneChoice) -> EmbeddingStore:
    return EmbeddingStore(project_folder(project) / "embeddings" / choice.key)


def _open_file(name: str):
    return Item._meta.get_field("image").storage.open(name, "rb")


def _image_names(item_ids: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The ids still present, in order, and their images' stored names."""
    names = dict(Item.objects.filter(pk__in=item_ids.tolist()).values_list("pk", "image"))
    kept = np.array([i for i in item_ids.tolist() if i in names], dtype=np.int64)
    return kept, [names[i] for i in kept.tolist()]


def backbone_load(project: Project, choice: BackboneChoice, store: EmbeddingStore):
    """The project's backbone, ready to embed; patch-kmeans fitted once on the pool."""
    import torch

    from learning.core.backbones import backbone_create

    backbone = backbone_create(
        choice.name,
        weights=choice.weights_path,
        allow_downloads=settings.ARBOR_ALLOW_DOWNLOADS,
        weights_dir=Path(settings.ARBOR_WEIGHTS_DIR),
        centroids=settings.ARBOR_CENTROIDS,
    )
    if not backbone.spec.fitted:
        return backbone
    workers = settings.ARBOR_DECODE_WORKERS
    fitted = store.folder / "backbone.pt"
    if fitted.exists():
        backbone.trunk.load_state_dict(torch.load(fitted, weights_only=True))
        return backbone
    # A sample of the pool: the dictionary needs patches, not every image.
    ids = np.array(Item.objects.filter(project=project).values_list("pk", flat=True))
    ids = np.sort(np.random.default_rng(project.pk).permutation(ids)[:FIT_SAMPLE])
    _, names = _image_names(ids)
    pixels = backbone.stream(names, batch_size=256, workers=workers, open_file=_open_file)
    backbone.fit(np.concatenate(list(pixels)))
    with atomic_path(fitted) as temporary:
        torch.save(backbone.trunk.state_dict(), temporary)
    return backbone


def _embed_missing(project: Project, store: EmbeddingStore, choice: BackboneChoice, backbone=None):
    """Embed the items without a row (the caller holds the store's lock): how many."""
    item_ids = np.array(
        Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True),
        dtype=np.int64,
    )
    missing = np.setdiff1d(item_ids, store.ids())
    if not len(missing):
        return 0
    backbone = backbone or backbone_load(project, choice, store)
    workers, done = settings.ARBOR_DECODE_WORKERS, 0
    chunk = settings.ARBOR_EMBED_CHUNK
    for start in range(0, len(missing), chunk):
        ids, names = _image_names(missing[start : start + chunk])
        if names:
            store.append(ids, backbone.embed_files(names, workers=workers, open_file=_open_file))
            done += len(ids)
    store.merge()
    return done


def embeddings_compute(*, project: Project) -> int:
    """Embed the project's items that have no row under its backbone; how many were.

    One writer per store at a time (a file lock, released if the process dies); rows
    are written every ``ARBOR_EMBED_CHUNK`` items, so a killed worker loses at most one chunk.
    """
    choice = backbone_choice_get(project=project)
    store = _store(project, choice)
    with store.writer():
        return _embed_missing(project, store, choice)


def backbone_ready(*, project: Project):
    """The project's backbone as its embeddings were made (patch-kmeans: fitted)."""
    choice = backbone_choice_get(project=project)
    store = _store(project, choice)
    with store.writer():
        return backbone_load(project, choice, store)


def embeddings_progress(*, project: Project) -> dict:
    """Items embedded under the project's backbone, of all its items."""
    choice = backbone_choice_get(project=project)
    item_ids = np.array(Item.objects.filter(project=project).values_list("pk", flat=True))
    try:
        embedded = int(np.isin(item_ids, _store(project, choice).ids()).sum())
    except FileNotFoundError:  # the chosen weights file was removed
        embedded = 0
    return {
        "name": choice.name,
        "weights": choice.weights,
        "embedded": embedded,
        "total": len(item_ids),
    }


def kept_embeddings(*, project: Project, item_ids: np.ndarray) -> np.ndarray | None:
    """float32 rows for ``item_ids`` under the project's backbone, or None while any is
    still missing (the embeddings task computes them)."""
    choice = backbone_choice_get(project=project)
    try:
        return _store(project, choice).read(item_ids)
    except (KeyError, FileNotFoundError):
        return None


def pool_embeddings(*, project: Project, item_ids: np.ndarray):
    """``(float32 rows for item_ids, backbone)``; the missing ones are embedded first."""
    choice = backbone_choice_get(project=project)
    store = _store(project, choice)
    with store.writer():
        backbone = backbone_load(project, choice, store)
        _embed_missing(project, store, choice, backbone)
        return store.read(item_ids), backbone
