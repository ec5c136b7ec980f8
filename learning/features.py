"""A project's pool as the model sees it: decoded images and embeddings, computed once
per item and kept on disk beside the backbone, so a retrain computes only new items."""

from pathlib import Path

import numpy as np
import torch
from django.conf import settings

from annotator.models import Item, Project
from learning.core.data import decode_images
from learning.core.networks import LeafClassifier, build_network

IMAGE_SIZE = 32


def project_folder(project: Project) -> Path:
    """The project's folder for its features, backbone and checkpoints."""
    folder = Path(settings.MEDIA_ROOT) / "learning" / f"project-{project.pk}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _save_array(path: Path, array: np.ndarray) -> None:
    temporary = path.with_name(f".{path.name}.tmp.npy")
    np.save(temporary, array)
    temporary.replace(path)


def _cached_rows(project: Project, name: str, item_ids: np.ndarray, compute) -> np.ndarray:
    """Rows for ``item_ids`` from a per-project cache, computing only the missing ones."""
    folder = project_folder(project)
    ids_file, rows_file = folder / f"{name}-ids.npy", folder / f"{name}.npy"
    if ids_file.exists() and rows_file.exists():
        cached_ids, cached = np.load(ids_file), np.load(rows_file)
    else:
        cached_ids, cached = np.zeros(0, dtype=np.int64), None
    missing = np.setdiff1d(item_ids, cached_ids)
    if len(missing):
        fresh = compute(missing)
        cached_ids = np.concatenate([cached_ids, missing])
        cached = fresh if cached is None else np.concatenate([cached, fresh])
        _save_array(rows_file, cached)
        _save_array(ids_file, cached_ids)
    position = {item_id: row for row, item_id in enumerate(cached_ids.tolist())}
    return cached[[position[item_id] for item_id in item_ids.tolist()]]


def pool_images(project: Project, item_ids: np.ndarray) -> np.ndarray:
    """Decoded uint8 images, decoded once per item and kept on disk."""

    def decode(missing: np.ndarray) -> np.ndarray:
        names = dict(Item.objects.filter(pk__in=missing.tolist()).values_list("pk", "image"))
        paths = [Path(settings.MEDIA_ROOT) / names[item_id] for item_id in missing.tolist()]
        return decode_images(paths, IMAGE_SIZE)

    return _cached_rows(project, f"images-{IMAGE_SIZE}", item_ids, decode)


def pool_embeddings(
    project: Project, item_ids: np.ndarray, num_leaves: int
) -> tuple[np.ndarray, LeafClassifier]:
    """Backbone embeddings; the unsupervised backbone is fitted once on the pool."""
    folder = project_folder(project)
    backbone_file = folder / "backbone.pt"
    network = build_network(
        settings.ARBOR_ARCHITECTURE, num_leaves, centroids=settings.ARBOR_CENTROIDS
    )
    if backbone_file.exists():
        network.backbone.load_state_dict(torch.load(backbone_file, weights_only=True))
    elif hasattr(network.backbone, "fit"):
        network.backbone.fit(pool_images(project, item_ids))
        torch.save(network.backbone.state_dict(), backbone_file)

    def embed(missing: np.ndarray) -> np.ndarray:
        images = pool_images(project, missing)
        with torch.inference_mode():
            batches = [
                network.embed(torch.from_numpy(images[i : i + 1024]).permute(0, 3, 1, 2).float())
                for i in range(0, len(images), 1024)
            ]
        return torch.cat(batches).numpy()

    embeddings = _cached_rows(project, "embeddings", item_ids, embed)
    return embeddings, network
