"""One API class per operation: validate, call one service or selector, serialize."""

from django.http import FileResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api.common import service_call, validated
from annotator.api.errors import Conflict
from annotator.models import Annotation, Item, Membership, Project, TaxonomyNode
from annotator.taxonomy_versions import taxonomy_initial_create
from learning.models import Prediction


class TaxonomyNodeSerializer(serializers.ModelSerializer):
    parent = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = TaxonomyNode
        fields = ["id", "name", "path", "depth", "position", "is_leaf", "parent"]


class ProjectOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "created_at", *services.PROJECT_EDITABLE_FIELDS]


class ProjectListApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ProjectCreateInput"

        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        taxonomy = serializers.JSONField(
            required=False, help_text="A taxonomy in the levels/tree JSON format"
        )
        taxonomy_csv = serializers.CharField(
            required=False, help_text="A taxonomy as CSV rows of paths"
        )

    @extend_schema(responses=ProjectOutputSerializer(many=True))
    def get(self, request):
        projects = selectors.project_list_for_user(user=request.user)
        return Response(ProjectOutputSerializer(projects, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        if not request.user.is_staff:
            raise PermissionDenied("Only admins create projects.")
        data = validated(self.InputSerializer, request.data)
        project = service_call(
            services.project_create_with_taxonomy,
            name=data["name"],
            description=data["description"],
            created_by=request.user,
            taxonomy=data.get("taxonomy"),
            taxonomy_csv=data.get("taxonomy_csv"),
        )
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ProjectUpdateInput"

        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        lease_seconds = serializers.IntegerField(required=False, min_value=30, max_value=86400)
        max_human_annotations = serializers.IntegerField(
            required=False, allow_null=True, min_value=0
        )
        daily_quota_per_annotator = serializers.IntegerField(
            required=False, allow_null=True, min_value=0
        )
        max_annotator_hours = serializers.FloatField(required=False, allow_null=True, min_value=0)
        annotations_per_item = serializers.IntegerField(required=False, min_value=1, max_value=10)
        strategy = serializers.CharField(
            required=False, help_text="A query strategy of learning.core.strategies.STRATEGIES"
        )
        batch_size = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
        retrain_every = serializers.IntegerField(required=False, min_value=1)
        shadow_size = serializers.IntegerField(required=False, min_value=0, max_value=100_000)
        auto_accept_enabled = serializers.BooleanField(required=False)
        auto_accept_target = serializers.FloatField(required=False, min_value=0.5, max_value=0.9999)
        audit_size = serializers.IntegerField(required=False, min_value=0, max_value=100_000)

        def validate_strategy(self, value: str) -> str:
            # Imported here: the strategies pull in modAL and with it torch, which the
            # web process otherwise never needs.
            from learning.core.strategies import STRATEGIES

            if value not in STRATEGIES:
                raise ValidationError(
                    f"Unknown strategy; choose from {', '.join(sorted(STRATEGIES))}."
                )
            return value

    class OutputSerializer(ProjectOutputSerializer):
        role = serializers.CharField()
        progress = serializers.DictField()

        class Meta(ProjectOutputSerializer.Meta):
            fields = [*ProjectOutputSerializer.Meta.fields, "role", "progress"]
            ref_name = "ProjectDetail"

    def _output(self, project: Project, role: str) -> dict:
        project.role = role
        project.progress = selectors.project_progress(project=project)
        return self.OutputSerializer(project).data

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        project, role = selectors.project_get_for_user(user=request.user, project_id=project_id)
        return Response(self._output(project, role))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def patch(self, request, project_id: int):
        project, role = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        data = validated(self.InputSerializer, request.data)
        if services.BUDGET_FIELDS & data.keys() and role != "admin":
            raise PermissionDenied("Only admins set budgets and quotas.")
        project = services.project_update(project=project, actor=request.user, **data)
        return Response(self._output(project, role))


class MemberListApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MemberAddInput"

        username = serializers.CharField(max_length=150)
        password = serializers.CharField(required=False, write_only=True, min_length=8)
        role = serializers.ChoiceField(choices=Membership.Role.choices)

    class OutputSerializer(serializers.ModelSerializer):
        username = serializers.CharField(source="user.username")

        class Meta:
            model = Membership
            fields = ["id", "username", "role", "created_at"]
            ref_name = "Member"

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, project_id: int):
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        members = project.memberships.select_related("user").order_by("id")
        return Response(self.OutputSerializer(members, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, project_id: int):
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        data = validated(self.InputSerializer, request.data)
        membership = service_call(
            services.membership_add,
            project=project,
            username=data["username"],
            role=data["role"],
            password=data.get("password"),
            actor=request.user,
        )
        return Response(self.OutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class TaxonomyApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TaxonomyCreateInput"

        taxonomy = serializers.JSONField(required=False)
        taxonomy_csv = serializers.CharField(required=False)
        name = serializers.CharField(required=False, allow_blank=True, default="")

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Taxonomy"

        id = serializers.IntegerField()
        name = serializers.CharField()
        version = serializers.IntegerField()
        levels = serializers.ListField(child=serializers.CharField())
        nodes = TaxonomyNodeSerializer(many=True)

    def _output(self, taxonomy) -> dict:
        taxonomy.nodes_list = list(selectors.taxonomy_nodes(taxonomy=taxonomy))
        return self.OutputSerializer(
            {
                "id": taxonomy.id,
                "name": taxonomy.name,
                "version": taxonomy.version,
                "levels": taxonomy.levels,
                "nodes": taxonomy.nodes_list,
            }
        ).data

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        project, _ = selectors.project_get_for_user(user=request.user, project_id=project_id)
        taxonomy = selectors.taxonomy_current(project=project)
        if taxonomy is None:
            raise NotFound("This project has no taxonomy yet.")
        return Response(self._output(taxonomy))

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, project_id: int):
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        if selectors.taxonomy_current(project=project) is not None:
            raise Conflict("This project already has a taxonomy.")
        data = validated(self.InputSerializer, request.data)
        taxonomy = service_call(
            taxonomy_initial_create,
            project=project,
            actor=request.user,
            data=data.get("taxonomy"),
            csv_text=data.get("taxonomy_csv"),
            name=data["name"],
        )
        return Response(self._output(taxonomy), status=status.HTTP_201_CREATED)


class ItemOutputSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = [
            "id",
            "project",
            "image_url",
            "original_name",
            "width",
            "height",
            "format",
            "state",
            "priority",
            "created_at",
        ]

    def to_representation(self, item: Item) -> dict:
        data = super().to_representation(item)
        # With labelled imports the original path names the true class: leads only.
        if not selectors.project_can_manage(role=self.context.get("role", "")):
            data.pop("original_name")
        return data

    def get_image_url(self, item: Item) -> str:
        request = self.context.get("request")
        url = f"/api/items/{item.pk}/image/"
        return request.build_absolute_uri(url) if request else url


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
        response = FileResponse(item.image.open("rb"), content_type=f"image/{item.format.lower()}")
        response["Cache-Control"] = "private, max-age=86400"
        return response


class PredictionOutputSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(source="model_version.version")
    node = serializers.IntegerField(source="predicted_node_id")
    path = serializers.CharField(source="predicted_node.path")
    confidence = serializers.FloatField()
    levels = serializers.JSONField(source="path")
    settled_depth = serializers.IntegerField()


class QueueNextApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "QueueNext"

        item = ItemOutputSerializer()
        prediction = PredictionOutputSerializer(allow_null=True)
        lease = inline_serializer(
            "Lease",
            {"id": serializers.UUIDField(), "expires_at": serializers.DateTimeField()},
        )
        mode = serializers.ChoiceField(
            choices=Prediction.Mode.choices,
            help_text="full: ask the whole path; fine: the prediction's first settled_depth "
            "levels are settled, ask below them; verify: confirm the prediction",
        )

    @extend_schema(
        request=None,
        responses={200: OutputSerializer, 204: OpenApiResponse(description="Nothing left")},
    )
    def post(self, request, project_id: int):
        project, role = selectors.project_get_for_user(user=request.user, project_id=project_id)
        lease = services.queue_next(project=project, user=request.user)
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = {
            "item": lease.item,
            "prediction": lease.prediction,
            "lease": {"id": lease.assignment.id, "expires_at": lease.assignment.expires_at},
            "mode": lease.prediction.question if lease.prediction else Prediction.Mode.FULL,
        }
        context = {"request": request, "role": role}
        return Response(self.OutputSerializer(data, context=context).data)


class GridNextApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GridNextInput"

        size = serializers.IntegerField(min_value=1, max_value=48, default=24)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Grid"

        node = inline_serializer(
            "GridNode", {"id": serializers.IntegerField(), "path": serializers.CharField()}
        )
        items = QueueNextApi.OutputSerializer(many=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 204: OpenApiResponse(description="Nothing to verify")},
    )
    def post(self, request, project_id: int):
        """Lease a page of confident items that the model predicts as one leaf."""
        project, role = selectors.project_get_for_user(user=request.user, project_id=project_id)
        data = validated(self.InputSerializer, request.data)
        grid = services.grid_next(project=project, user=request.user, size=data["size"])
        if grid is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        node, leases = grid
        items = [
            {
                "item": lease.item,
                "prediction": lease.prediction,
                "lease": {"id": lease.assignment.id, "expires_at": lease.assignment.expires_at},
                "mode": Prediction.Mode.VERIFY,
            }
            for lease in leases
        ]
        context = {"request": request, "role": role}
        return Response(
            self.OutputSerializer(
                {"node": {"id": node.pk, "path": node.path}, "items": items}, context=context
            ).data
        )


class GridAnswerApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GridAnswerInput"

        accept = serializers.ListField(child=serializers.UUIDField(), default=list, max_length=48)
        reject = serializers.ListField(child=serializers.UUIDField(), default=list, max_length=48)

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer(
            "GridAnswered",
            {"accepted": serializers.IntegerField(), "rejected": serializers.IntegerField()},
        ),
    )
    def post(self, request, project_id: int):
        """Confirm the accepted predictions; send the rejected items back to be labeled."""
        project, _ = selectors.project_get_for_user(user=request.user, project_id=project_id)
        data = validated(self.InputSerializer, request.data)
        counts = service_call(
            services.grid_answer,
            project=project,
            user=request.user,
            accept=data["accept"],
            reject=data["reject"],
        )
        return Response(counts)


class LeaseReleaseApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request, lease_id):
        selectors.assignment_get_for_user(user=request.user, assignment_id=lease_id)
        service_call(services.lease_release, assignment_id=lease_id, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnnotationOutputSerializer(serializers.ModelSerializer):
    node_path = serializers.CharField(source="node.path")
    lease = serializers.UUIDField(source="assignment_id", allow_null=True)

    class Meta:
        model = Annotation
        fields = [
            "id",
            "item",
            "annotator",
            "node",
            "node_path",
            "source",
            "lease",
            "prediction",
            "model_version",
            "duration_ms",
            "idempotency_key",
            "created_at",
        ]


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class NodeField(serializers.Field):
    """A taxonomy node given by id (number) or by path (text)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "":
            raise ValidationError("Give a node id or a path such as animal/cat.")
        return data


class ItemAnnotationApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AnnotationSubmitInput"

        node = NodeField()
        lease = serializers.UUIDField()
        idempotency_key = serializers.CharField(max_length=100, required=False, allow_blank=True)
        duration_ms = serializers.IntegerField(
            required=False, allow_null=True, min_value=0, max_value=86_400_000
        )
        source = serializers.ChoiceField(
            choices=[
                Annotation.Source.MANUAL,
                Annotation.Source.CONFIRMED,
                Annotation.Source.CORRECTED,
            ],
            required=False,
        )

    @extend_schema(responses=AnnotationOutputSerializer(many=True))
    def get(self, request, item_id: int):
        item = selectors.item_get_for_user(user=request.user, item_id=item_id)
        role = selectors.project_role(user=request.user, project=item.project)
        annotations = selectors.annotation_list_for_user(
            user=request.user, project=item.project, role=role
        ).filter(item=item)
        return Response(AnnotationOutputSerializer(annotations, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: AnnotationOutputSerializer, 200: AnnotationOutputSerializer},
    )
    def post(self, request, item_id: int):
        item = selectors.item_get_for_user(user=request.user, item_id=item_id)
        data = validated(self.InputSerializer, request.data)
        submission = service_call(
            services.annotation_submit,
            item=item,
            user=request.user,
            node=data["node"],
            lease_id=data["lease"],
            idempotency_key=data.get("idempotency_key") or None,
            duration_ms=data.get("duration_ms"),
            source=data.get("source"),
        )
        return Response(
            AnnotationOutputSerializer(submission.annotation).data,
            status=status.HTTP_200_OK if submission.replayed else status.HTTP_201_CREATED,
        )


class AnnotationFilter(filters.FilterSet):
    source = filters.ChoiceFilter(choices=Annotation.Source.choices)
    item = filters.NumberFilter(field_name="item_id")
    ordering = filters.OrderingFilter(fields=("id", "created_at"))

    class Meta:
        model = Annotation
        fields = ["source", "item"]


class ProjectAnnotationListApi(ListAPIView):
    serializer_class = AnnotationOutputSerializer
    filterset_class = AnnotationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Annotation.objects.none()
        project, role = selectors.project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"]
        )
        return selectors.annotation_list_for_user(
            user=self.request.user, project=project, role=role
        )


class AnnotationDetailApi(APIView):
    @extend_schema(responses=AnnotationOutputSerializer)
    def get(self, request, annotation_id: int):
        annotation = selectors.annotation_get_for_user(
            user=request.user, annotation_id=annotation_id
        )
        return Response(AnnotationOutputSerializer(annotation).data)
