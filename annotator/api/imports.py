"""Imports over the API: upload a zip (whole here, resumable in ``uploads``), follow the
job the worker runs, read its report (also as CSV), the history, and predictions of an
outside model."""

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.exceptions import ImportRejected
from annotator.imports.job import import_job_start
from annotator.imports.predictions import MAX_PREDICTIONS_BYTES, predictions_import
from annotator.imports.report import import_report_csv
from annotator.models import ImportJob
from annotator.selectors import import_job_get_for_user, import_job_list, project_get_for_user


class ImportJobOutputSerializer(serializers.ModelSerializer):
    skipped = serializers.SerializerMethodField(help_text="Files reported in errors")
    created_by = serializers.CharField(source="created_by.username", allow_null=True)

    class Meta:
        model = ImportJob
        # Not "source": it is a path on the server.
        fields = [
            "id",
            "project",
            "kind",
            "name",
            "state",
            "with_labels",
            "labels_as",
            "total",
            "processed",
            "imported",
            "duplicates",
            "skipped",
            "errors",
            "unmatched_folders",
            "error",
            "created_by",
            "created_at",
            "finished_at",
        ]

    def get_skipped(self, job: ImportJob) -> int:
        return job.processed - job.imported - job.duplicates


class ProjectImportApi(ListAPIView):
    """GET: the import history, newest first. POST: upload a zip in one request."""

    serializer_class = ImportJobOutputSerializer
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="A .zip of JPEG, PNG or WebP images")
        with_labels = serializers.BooleanField(
            default=False,
            help_text="Folders named like taxonomy leaves give their images a label",
        )
        labels_as = serializers.ChoiceField(
            choices=ImportJob.LabelsAs.choices,
            default=ImportJob.LabelsAs.GOLD,
            help_text="With labels: gold (ground truth, never shown) or human answers",
        )

        class Meta:
            ref_name = "ImportStartInput"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ImportJob.objects.none()
        project, _ = project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"], manage=True
        )
        return import_job_list(project=project)

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
                labels_as=serializer.validated_data["labels_as"],
            )
        except ImportRejected as error:
            raise ValidationError({"detail": str(error)}) from error
        return Response(ImportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobApi(APIView):
    @extend_schema(responses=ImportJobOutputSerializer)
    def get(self, request, job_id: int):
        job = import_job_get_for_user(user=request.user, job_id=job_id)
        return Response(ImportJobOutputSerializer(job).data)


class ImportReportCsvApi(APIView):
    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="file, outcome, detail"
            )
        }
    )
    def get(self, request, job_id: int):
        """The report as CSV: the counts, then each refused file with its reason."""
        job = import_job_get_for_user(user=request.user, job_id=job_id)
        response = HttpResponse(import_report_csv(job=job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.csv"'
        return response


class PredictionImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(
            help_text="CSV (columns file, node, confidence) or JSON (a list of such objects)"
        )
        model_name = serializers.CharField(required=False, default="", max_length=200)

        class Meta:
            ref_name = "PredictionImportInput"

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={201: ImportJobOutputSerializer},
    )
    def post(self, request, project_id: int):
        """Import an outside model's predictions as a new model version, which the queue
        shows to annotators; bad rows are reported in the returned job and skipped."""
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        try:
            job = predictions_import(
                project=project,
                user=request.user,
                data=upload.read(MAX_PREDICTIONS_BYTES + 1),
                name=upload.name or "",
                model_name=serializer.validated_data["model_name"],
            )
        except ImportRejected as error:
            raise ValidationError({"detail": str(error)}) from error
        return Response(ImportJobOutputSerializer(job).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("projects/<int:project_id>/imports/", ProjectImportApi.as_view(), name="project-imports"),
    path(
        "projects/<int:project_id>/predictions/",
        PredictionImportApi.as_view(),
        name="project-predictions",
    ),
    path("imports/<int:job_id>/", ImportJobApi.as_view(), name="import-job-detail"),
    path("imports/<int:job_id>/report/", ImportReportCsvApi.as_view(), name="import-job-report"),
]
