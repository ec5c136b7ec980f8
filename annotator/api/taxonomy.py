"""A project's current taxonomy: read it, or create the first one."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors
from annotator.api.common import service_call, validated
from annotator.api.errors import Conflict
from annotator.api.serializers import TaxonomyNodeSerializer
from annotator.taxonomy.versions import taxonomy_initial_create


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
