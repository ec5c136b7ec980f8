"""Image imports over the API: upload a zip, then follow the job the worker runs."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.exceptions import ImportRejected
from annotator.imports.job import import_job_start
from annotator.models import ImportJob
from annotator.selectors import import_job_get_for_user, project_get_for_user


class ImportJobOutputSerializer(serializers.ModelSerializer):
    skipped = serializers.SerializerMethodField(help_text="Files reported in errors")

    class Meta:
        model = ImportJob
        # Not "source": it is a path on the server.
        fields = [
            "id",
            "project",
            "state",
            "with_labels",
            "total",
            "processed",
            "imported",
            "duplicates",
            "skipped",
            "errors",
            "unmatched_folders",
            "error",
            "created_at",
            "finished_at",
        ]

    def get_skipped(self, job: ImportJob) -> int:
        return job.processed - job.imported - job.duplicates


class ProjectImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="A .zip of JPEG, PNG or WebP images")
        with_labels = serializers.BooleanField(
            default=False,
            help_text="Folders named like taxonomy leaves give their images ground truth",
        )

        class Meta:
            ref_name = "ImportStartInput"

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={202: ImportJobOutputSerializer},
    )
    def post(self, request, project_id: int):
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = import_job_start(
                project=project,
                user=request.user,
                upload=serializer.validated_data["file"],
                with_labels=serializer.validated_data["with_labels"],
            )
        except ImportRejected as error:
            raise ValidationError({"detail": str(error)}) from error
        return Response(ImportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobApi(APIView):
    @extend_schema(responses=ImportJobOutputSerializer)
    def get(self, request, job_id: int):
        job = import_job_get_for_user(user=request.user, job_id=job_id)
        return Response(ImportJobOutputSerializer(job).data)


urlpatterns = [
    path("projects/<int:project_id>/imports/", ProjectImportApi.as_view(), name="project-imports"),
    path("imports/<int:job_id>/", ImportJobApi.as_view(), name="import-job-detail"),
]
