"""Labeled data for the export tests: annotations and predictions at chosen moments."""

import datetime as dt

from django.utils import timezone

from annotator.models import Annotation, Item, ModelVersion, Prediction, TaxonomyNode
from tests.factories import AnnotationFactory, ModelVersionFactory, PredictionFactory, node_of

# Annotations are dated in the past: an export covers what existed when it was requested.
START = timezone.now() - dt.timedelta(days=1)


def node(item: Item, path: str) -> TaxonomyNode:
    return node_of(item.project, path)


def annotate(
    item: Item,
    path: str,
    *,
    annotator=None,
    source: str = Annotation.Source.MANUAL,
    minute: int = 0,
    duration_ms: int | None = 1500,
) -> Annotation:
    annotation = AnnotationFactory(
        item=item, annotator=annotator, node=path, source=source, duration_ms=duration_ms
    )
    # created_at is auto_now_add: set the moment afterwards.
    annotation.created_at = START + dt.timedelta(minutes=minute)
    Annotation.objects.filter(pk=annotation.pk).update(created_at=annotation.created_at)
    Item.objects.filter(pk=item.pk).update(state=Item.State.LABELED)
    return annotation


def model_version(project, version: int = 1) -> ModelVersion:
    return ModelVersionFactory(project=project, version=version)


def predict(
    item: Item,
    path: str,
    *,
    version: ModelVersion,
    confidence: float,
    mode: str = Prediction.Mode.FULL,
) -> Prediction:
    predicted = node(item, path)
    return PredictionFactory(
        item=item,
        model_version=version,
        predicted_node=predicted,
        confidence=confidence,
        mode=mode,
        path=[{"node": predicted.pk, "path": predicted.path, "p": confidence}],
    )
