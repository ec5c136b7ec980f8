"""Steps many tests take on the way to what they test."""

from __future__ import annotations

import io
import zipfile

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator import services
from annotator.models import Annotation, TaxonomyNode


def answer(
    *,
    project,
    user,
    node: TaxonomyNode | int | str = "animal/cat",
    lease: services.Lease | None = None,
    idempotency_key: str | None = None,
    duration_ms: int | None = None,
) -> Annotation:
    """Record ``user``'s answer ``node`` (a node, its id or its path), as an annotator gives it.

    The item is ``lease``'s, or the next one the queue leases to ``user``. Tests of
    ``annotation_submit`` itself call it directly.
    """
    if lease is None:
        lease = services.queue_next(project=project, user=user)
        assert lease is not None, f"the queue has nothing for {user}"
    if isinstance(node, TaxonomyNode):
        node = node.pk
    return services.annotation_submit(
        item=lease.item,
        user=user,
        node=node,
        lease_id=lease.assignment.pk,
        idempotency_key=idempotency_key,
        duration_ms=duration_ms,
    ).annotation


def zip_upload(entries: dict[str, bytes], name: str = "images.zip") -> SimpleUploadedFile:
    """An uploaded .zip holding ``entries`` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry_name, data in entries.items():
            archive.writestr(entry_name, data)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def stored_rows() -> dict[str, list[dict]]:
    """Every row of Arbor's own tables and the users: compare before and after a request."""
    models = [get_user_model()]
    for app in ("annotator", "learning"):
        models.extend(apps.get_app_config(app).get_models())
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in models}
