import hashlib
import io

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image

from annotator.models import Item, Membership, Project, Taxonomy, TaxonomyNode

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
