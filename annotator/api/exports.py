"""Exports over the API: start one, follow its progress, download the file (leads, admins)."""

from django.http import FileResponse
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.errors import Conflict
from annotator.exceptions import InvalidInput
from annotator.exports.job import CONTENT_TYPES, export_download_name, export_start
from annotator.models import Export
from annotator.selectors import export_get_for_user, export_list, project_get_for_user


class ExportOutputSerializer(serializers.ModelSerializer):
    taxonomy_version = serializers.IntegerField(source="taxonomy.version")
    model_version = serializers.IntegerField(source="model_version.version", allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        # Not "file": it is a path on the server.
        fields = [
            "id",
            "project",
            "format",
            "options",
            "state",
            "taxonomy_version",
            "model_version",
            "total",
            "processed",
            "exported",
            "left_out",
            "size",
            "error",
            "created_by",
            "created_at",
            "finished_at",
            "download_url",
        ]

    def get_download_url(self, export: Export) -> str | None:
        if export.state != Export.State.SUCCEEDED:
            return None
        url = f"/api/exports/{export.pk}/download/"
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class ProjectExportListApi(ListAPIView):
    serializer_class = ExportOutputSerializer

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=Export.Format.choices)
        options = serializers.JSONField(
            required=False,
            default=dict,
            help_text="human_only, include_auto (booleans), min_agreement (0 to 1), "
            "layout (imagefolder: nested or flat)",
        )

        class Meta:
            ref_name = "ExportStartInput"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Export.objects.none()
        project, _ = project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"], manage=True
        )
        return export_list(project=project)

    @extend_schema(request=InputSerializer, responses={202: ExportOutputSerializer})
    def post(self, request, project_id: int):
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            export = export_start(
                project=project,
                user=request.user,
                format=serializer.validated_data["format"],
                options=serializer.validated_data["options"],
            )
        except InvalidInput as error:
            raise ValidationError({"detail": str(error)}) from error
        return Response(
            ExportOutputSerializer(export, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class ExportDetailApi(APIView):
    @extend_schema(responses=ExportOutputSerializer)
    def get(self, request, export_id: int):
        export = export_get_for_user(user=request.user, export_id=export_id)
        return Response(ExportOutputSerializer(export, context={"request": request}).data)


class ExportDownloadApi(APIView):
    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The export file"),
            409: OpenApiResponse(description="The export has not succeeded (yet)"),
        }
    )
    def get(self, request, export_id: int):
        export = export_get_for_user(user=request.user, export_id=export_id)
        if export.state != Export.State.SUCCEEDED:
            raise Conflict(f"The export is {export.state}; download it once it has succeeded.")
        # Streamed from the storage like item images (see items.py), not redirected to a
        # signed bucket URL: the bucket stays private and unreachable from browsers.
        try:
            stream = export.file.open("rb")
        except FileNotFoundError:
            raise NotFound("The export file is gone; start a new export.") from None
        return FileResponse(
            stream,
            as_attachment=True,
            filename=export_download_name(export),
            content_type=CONTENT_TYPES[export.format],
        )


urlpatterns = [
    path(
        "projects/<int:project_id>/exports/",
        ProjectExportListApi.as_view(),
        name="project-exports",
    ),
    path("exports/<int:export_id>/", ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<int:export_id>/download/", ExportDownloadApi.as_view(), name="export-download"),
]
