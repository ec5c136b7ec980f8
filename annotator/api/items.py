"""A project's items: the list, one item, and its image bytes."""

from django.http import FileResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors
from annotator.api.serializers import ItemOutputSerializer
from annotator.models import Item


class ItemFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=Item.State.choices)
    # Ordering by an allow-list only: user-chosen ORM paths can leak other tables.
    ordering = filters.OrderingFilter(fields=("id", "priority", "created_at"))

    class Meta:
        model = Item
        fields = ["state"]


class ItemListApi(ListAPIView):
    serializer_class = ItemOutputSerializer
    filterset_class = ItemFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Item.objects.none()
        project, self.role = selectors.project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"]
        )
        return selectors.item_list(project=project)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "role": getattr(self, "role", "")}


class ItemDetailApi(APIView):
    @extend_schema(responses=ItemOutputSerializer)
    def get(self, request, item_id: int):
        item = selectors.item_get_for_user(user=request.user, item_id=item_id)
        role = selectors.project_role(user=request.user, project=item.project)
        return Response(ItemOutputSerializer(item, context={"request": request, "role": role}).data)


class ItemImageApi(APIView):
    @extend_schema(responses={(200, "image/*"): OpenApiResponse(description="The image bytes")})
    def get(self, request, item_id: int):
        item = selectors.item_get_for_user(user=request.user, item_id=item_id)
        # Streamed from the storage (MEDIA_ROOT or a bucket) rather than redirected to a
        # signed bucket URL: every request passes the access check above, the URL stays
        # the same (so the browser's cache works), and browsers never need to reach the bucket.
        try:
            image = item.image.open("rb")
        except FileNotFoundError:
            raise NotFound("The image file is gone.") from None
        response = FileResponse(image, content_type=f"image/{item.format.lower()}")
        response["Cache-Control"] = "private, max-age=86400"
        return response
