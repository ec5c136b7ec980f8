"""The labeling queue: lease the next item or a grid of confident ones, answer the grid,
release a lease."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api.common import service_call, validated
from annotator.api.serializers import ItemOutputSerializer
from annotator.models import ModelVersion, Prediction

TOO_MANY_LEASES = "You hold as many open leases as one may (ARBOR_MAX_OPEN_LEASES)"


class PredictionOutputSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(source="model_version.version")
    node = serializers.IntegerField(source="predicted_node_id")
    path = serializers.CharField(source="predicted_node.path")
    confidence = serializers.FloatField()
    levels = serializers.JSONField(source="path")
    settled_depth = serializers.IntegerField()
    origin = serializers.ChoiceField(
        choices=ModelVersion.Source.choices,
        source="model_version.source",
        help_text="trained by Arbor, zero-shot (from the class names alone, before any "
        "label: a guess to check) or imported from an outside model",
    )


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
        responses={
            200: OutputSerializer,
            204: OpenApiResponse(description="Nothing left"),
            409: OpenApiResponse(description=TOO_MANY_LEASES),
        },
    )
    def post(self, request, project_id: int):
        project, role = selectors.project_get_for_user(user=request.user, project_id=project_id)
        lease = service_call(services.queue_next, project=project, user=request.user)
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
        responses={
            200: OutputSerializer,
            204: OpenApiResponse(description="Nothing to verify"),
            409: OpenApiResponse(description=TOO_MANY_LEASES),
        },
    )
    def post(self, request, project_id: int):
        """Lease a page of confident items that the model predicts as one leaf."""
        project, role = selectors.project_get_for_user(user=request.user, project_id=project_id)
        data = validated(self.InputSerializer, request.data)
        grid = service_call(
            services.grid_next, project=project, user=request.user, size=data["size"]
        )
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
