"""Before any model, the queue serves TypiClust's typical points first."""

import pytest

from annotator import services
from annotator.models import Item, Membership, ModelVersion
from learning import tasks
from learning.cold_start import cold_start_prioritize
from tests.factories import MembershipFactory


def served(project, user, count: int) -> list[Item]:
    leases = [services.queue_next(project=project, user=user) for _ in range(count)]
    return [lease.item for lease in leases]


@pytest.mark.django_db
def test_the_first_batch_covers_every_class_once_the_images_are_embedded(easy_project):
    annotator = MembershipFactory(project=easy_project, role=Membership.Role.ANNOTATOR).user

    assert tasks.embeddings_compute(easy_project.pk) == 400  # the task puts them first

    first = served(easy_project, annotator, easy_project.batch_size)  # 20 of 400
    # 10 hues of 40 images: every hue among the first 20, where a random 20 miss at
    # least one hue about four times in five.
    assert {item.ground_truth_id for item in first} == set(
        Item.objects.filter(project=easy_project).values_list("ground_truth_id", flat=True)
    )
    priorities = [item.priority for item in first]
    assert priorities == sorted(priorities, reverse=True) and min(priorities) > 1
    assert Item.objects.filter(project=easy_project, priority__gt=1).count() == 20


@pytest.mark.django_db
def test_a_project_with_a_model_keeps_its_order(easy_project):
    ModelVersion.objects.create(
        project=easy_project, taxonomy=easy_project.taxonomies.get(), version=1
    )
    before = dict(Item.objects.filter(project=easy_project).values_list("pk", "priority"))

    assert cold_start_prioritize(project=easy_project) == 0

    after = dict(Item.objects.filter(project=easy_project).values_list("pk", "priority"))
    assert after == before
