"""A project's current taxonomy: read it, or create the first one; its counts per node,
and a preview of a change (saving one is ``governance``'s versions endpoint)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors
from annotator.api.common import service_call, validated
from annotator.api.errors import Conflict
from annotator.api.serializers import TaxonomyChangesInputSerializer, TaxonomyNodeSerializer
from annotator.models import TaxonomyNodeMapping
from annotator.taxonomy.counts import taxonomy_node_counts
from annotator.taxonomy.preview import taxonomy_version_preview
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


class TaxonomyNodeCountsSerializer(TaxonomyNodeSerializer):
    human = serializers.IntegerField(help_text="Human answers in the subtree")
    auto = serializers.IntegerField(help_text="Auto-accepted labels in the subtree")
    predicted = serializers.IntegerField(help_text="Items the latest model predicts here")
    left = serializers.IntegerField(help_text="Of those, the ones still unlabeled")

    class Meta(TaxonomyNodeSerializer.Meta):
        fields = [*TaxonomyNodeSerializer.Meta.fields, "human", "auto", "predicted", "left"]
        ref_name = "TaxonomyNodeCounts"


class TaxonomyCountsApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TaxonomyCounts"

        version = serializers.IntegerField()
        model_version = serializers.IntegerField(allow_null=True)
        unlabeled = serializers.IntegerField(help_text="Unlabeled items in the project")
        nodes = TaxonomyNodeCountsSerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        """The current taxonomy, each node with the counts of its subtree (leads, admins)."""
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        taxonomy = selectors.taxonomy_current(project=project)
        if taxonomy is None:
            raise NotFound("This project has no taxonomy yet.")
        counts = taxonomy_node_counts(project=project, taxonomy=taxonomy)
        return Response(self.OutputSerializer({"version": taxonomy.version, **counts}).data)


class TaxonomyPreviewApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TaxonomyPreview"

        version = serializers.IntegerField(help_text="The version saving would create")
        nodes = TaxonomyNodeSerializer(many=True)
        remapped = inline_serializer(
            "TaxonomyPreviewRemap",
            {
                "old_path": serializers.CharField(),
                "new_path": serializers.CharField(),
                "kind": serializers.ChoiceField(choices=TaxonomyNodeMapping.Kind.choices),
                "answers": serializers.IntegerField(),
            },
            many=True,
        )
        annotations_remapped = serializers.IntegerField()
        items_requeued = serializers.IntegerField(help_text="Items that go back to the queue")
        ground_truth_cleared = serializers.IntegerField()

    @extend_schema(request=TaxonomyChangesInputSerializer, responses=OutputSerializer)
    def post(self, request, project_id: int):
        """What saving these changes would do; nothing is written."""
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        data = validated(TaxonomyChangesInputSerializer, request.data)
        preview = service_call(taxonomy_version_preview, project=project, changes=data["changes"])
        return Response(self.OutputSerializer(preview).data)
