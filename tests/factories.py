import hashlib
import io

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image

from annotator.models import (
    Annotation,
    Item,
    Membership,
    ModelVersion,
    Prediction,
    Project,
    Taxonomy,
    TaxonomyNode,
)
from annotator.selectors import taxonomy_current

PASSWORD = "correct horse battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"project {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANNOTATOR


TWO_LEVEL = {"vehicle": ["airplane", "truck"], "animal": ["cat", "dog", "frog"]}


def taxonomy_build(project: Project, tree: dict | None = None, levels=("coarse", "fine")):
    """A taxonomy from a nested dict (lists at the last level), nodes in order."""
    taxonomy = Taxonomy.objects.create(project=project, name="test", levels=list(levels))

    def add(children, parent, depth):
        entries = children.items() if isinstance(children, dict) else ((c, None) for c in children)
        for position, (name, grandchildren) in enumerate(entries):
            path = f"{parent.path}/{name}" if parent else name
            node = TaxonomyNode.objects.create(
                taxonomy=taxonomy,
                parent=parent,
                name=name,
                path=path,
                depth=depth,
                position=position,
                is_leaf=grandchildren is None,
            )
            if grandchildren is not None:
                add(grandchildren, node, depth + 1)

    add(tree or TWO_LEVEL, None, 1)
    return taxonomy


def png_bytes(seed: int, size=(8, 8)) -> bytes:
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed // 7) % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def item_create(project: Project, seed: int, **fields) -> Item:
    """An item with a real, unique stored image."""
    data = png_bytes(seed) + seed.to_bytes(8, "big")  # trailing bytes keep hashes unique
    item = Item(
        project=project,
        original_name=f"{seed}.png",
        content_hash=hashlib.sha256(data).hexdigest(),
        format="PNG",
        width=8,
        height=8,
        **fields,
    )
    item.image.save(f"{seed}.png", ContentFile(data), save=False)
    item.save()
    return item


def items_bulk_create(project: Project, numbers: range, **fields) -> list[Item]:
    """Item rows with no image file behind them, for tests that never open one."""
    return Item.objects.bulk_create(
        Item(
            project=project,
            original_name=f"{number}.png",
            content_hash=f"{number:064x}",
            format="PNG",
            width=8,
            height=8,
            image=f"projects/{project.pk}/{number}.png",
            **fields,
        )
        for number in numbers
    )


def node_of(project: Project, node: TaxonomyNode | str) -> TaxonomyNode:
    """``node`` itself, or the node at that path in the project's current taxonomy."""
    if isinstance(node, TaxonomyNode):
        return node
    return TaxonomyNode.objects.get(taxonomy=taxonomy_current(project=project), path=node)


class AnnotationFactory(factory.django.DjangoModelFactory):
    """``AnnotationFactory(item=item, node="animal/cat", annotator=user)``: a stored answer.

    The row only, as an import or a fixture would write it; ``tests.helpers.answer``
    records an answer the way an annotator gives one (lease, submit, item state).
    """

    class Meta:
        model = Annotation

    project = factory.SelfAttribute("item.project")
    source = Annotation.Source.MANUAL

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        kwargs["node"] = node_of(kwargs["item"].project, kwargs["node"])
        return kwargs


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """The project's next model version, on its current taxonomy."""

    class Meta:
        model = ModelVersion

    project = factory.SubFactory(ProjectFactory)
    taxonomy = factory.LazyAttribute(lambda version: taxonomy_current(project=version.project))
    version = factory.LazyAttribute(
        lambda version: (
            max(version.project.model_versions.values_list("version", flat=True), default=0) + 1
        )
    )


class PredictionFactory(factory.django.DjangoModelFactory):
    """``PredictionFactory(item=item, predicted_node="animal/cat")``: a stored prediction.

    Without ``model_version`` it comes from a new model version of the item's project;
    without ``path`` every level of the predicted node is given ``confidence``.
    """

    class Meta:
        model = Prediction

    model_version = factory.SubFactory(
        ModelVersionFactory, project=factory.SelfAttribute("..item.project")
    )
    confidence = 0.9

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        node = kwargs["predicted_node"] = node_of(kwargs["item"].project, kwargs["predicted_node"])
        if "path" not in kwargs:
            levels = []
            while node is not None:
                levels.insert(0, {"node": node.pk, "path": node.path, "p": kwargs["confidence"]})
                node = node.parent
            kwargs["path"] = levels
        return kwargs
