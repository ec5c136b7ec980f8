"""Resumable uploads over the tus protocol (https://tus.io/protocols/resumable-upload):
POST creates an upload in a project, HEAD tells its offset, PATCH appends, DELETE ends
it. The last PATCH starts the import; its job's id comes back in ``Arbor-Import-Job``.
Why the server side is ours is in ``annotator/imports/uploads.py``."""

import base64
import binascii
import shutil
import tempfile

from django.urls import path
from django.utils.http import http_date
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.errors import Conflict
from annotator.exceptions import InvalidInput, UploadConflict, UploadTooLarge
from annotator.imports.uploads import (
    MAX_PART_BYTES,
    TUS_EXTENSIONS,
    TUS_VERSION,
    upload_append,
    upload_create,
    upload_delete,
    upload_expires_at,
)
from annotator.models import Upload
from annotator.selectors import project_get_for_user, upload_get_for_user

PART_TYPE = "application/offset+octet-stream"
_COPY_BYTES = 1024**2


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = f"Only tus {TUS_VERSION} is supported."


def _header_int(request, name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isdigit():
        raise exceptions.ValidationError({"detail": f"The {name} header must be a whole number."})
    return int(value)


def _metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated "key base64(value)" pairs; the value may be absent."""
    pairs = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            pairs[key] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.ValidationError(
                {"detail": f"Upload-Metadata: bad value of {key}."}
            ) from None
    return pairs


def _state_headers(upload: Upload) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(upload.offset),
        "Upload-Length": str(upload.length),
        "Upload-Expires": http_date(upload_expires_at(upload).timestamp()),
        "Cache-Control": "no-store",
    }
    if upload.import_job_id:
        headers["Arbor-Import-Job"] = str(upload.import_job_id)
    return headers


def _version_check(request) -> None:
    """After the access check, so that outsiders get 404 whatever they send."""
    version = request.headers.get("Tus-Resumable")
    if version is not None and version != TUS_VERSION:
        raise PreconditionFailed()


class TusApiView(APIView):
    """Every answer says the protocol version; a client of another version gets 412."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        response["Tus-Version"] = TUS_VERSION
        response["Tus-Extension"] = TUS_EXTENSIONS
        return response


_TUS_HEADERS = [
    OpenApiParameter("Tus-Resumable", str, OpenApiParameter.HEADER, description=TUS_VERSION),
]


class UploadCreateApi(TusApiView):
    @extend_schema(
        request=None,
        parameters=[
            *_TUS_HEADERS,
            OpenApiParameter("Upload-Length", int, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(
                "Upload-Metadata",
                str,
                OpenApiParameter.HEADER,
                description="filename, and labels (gold or human: folders named like "
                "leaves label their images), base64-encoded",
            ),
        ],
        responses={
            201: OpenApiResponse(description="Created; Location is the upload's URL"),
            413: OpenApiResponse(description="Larger than ARBOR_MAX_UPLOAD_BYTES"),
        },
    )
    def post(self, request, project_id: int):
        """tus creation: an upload of Upload-Length bytes of a zip into the project."""
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        _version_check(request)
        length = _header_int(request, "Upload-Length")
        metadata = _metadata(request.headers.get("Upload-Metadata", ""))
        try:
            upload = upload_create(
                project=project,
                user=request.user,
                length=length,
                name=metadata.get("filename", ""),
                labels=metadata.get("labels", ""),
            )
        except UploadTooLarge as error:
            raise PayloadTooLarge(str(error)) from error
        except InvalidInput as error:
            raise exceptions.ValidationError({"detail": str(error)}) from error
        location = request.build_absolute_uri(f"/api/uploads/{upload.pk}/")
        return Response(
            status=status.HTTP_201_CREATED, headers={"Location": location, **_state_headers(upload)}
        )


class UploadApi(TusApiView):
    def head(self, request, upload_id):
        """tus: where the upload stands (Upload-Offset), to resume from there."""
        upload = upload_get_for_user(user=request.user, upload_id=upload_id)
        _version_check(request)
        return Response(headers=_state_headers(upload))

    @extend_schema(
        request={PART_TYPE: bytes},
        parameters=[
            *_TUS_HEADERS,
            OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER, required=True),
        ],
        responses={
            204: OpenApiResponse(description="Stored; Upload-Offset is the new offset"),
            409: OpenApiResponse(description="Upload-Offset is not where the upload stands"),
        },
    )
    def patch(self, request, upload_id):
        """tus: append the body at Upload-Offset. The last part starts the import."""
        upload = upload_get_for_user(user=request.user, upload_id=upload_id)
        _version_check(request)
        if request.content_type.split(";")[0].strip() != PART_TYPE:
            raise exceptions.UnsupportedMediaType(request.content_type)
        offset = _header_int(request, "Upload-Offset")
        size = int(request.META.get("CONTENT_LENGTH") or 0)
        if size > MAX_PART_BYTES:
            raise PayloadTooLarge(f"Send parts of at most {MAX_PART_BYTES:,} bytes.")
        with tempfile.TemporaryFile() as part:
            # Read before any row is locked; a part cut short is not stored, and the
            # client resumes from the offset it asks for next.
            if size:
                shutil.copyfileobj(request.stream, part, _COPY_BYTES)
            if part.tell() != size:
                raise exceptions.ValidationError({"detail": "The part was cut short."})
            part.seek(0)
            try:
                upload = upload_append(upload=upload, offset=offset, part=part, size=size)
            except UploadConflict as error:
                raise Conflict(str(error)) from error
            except InvalidInput as error:
                raise exceptions.ValidationError({"detail": str(error)}) from error
        return Response(status=status.HTTP_204_NO_CONTENT, headers=_state_headers(upload))

    @extend_schema(request=None, parameters=_TUS_HEADERS, responses={204: None})
    def delete(self, request, upload_id):
        """tus termination: the upload and the parts received are deleted."""
        upload = upload_get_for_user(user=request.user, upload_id=upload_id)
        _version_check(request)
        upload_delete(upload=upload)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path(
        "projects/<int:project_id>/uploads/",
        UploadCreateApi.as_view(),
        name="project-uploads",
    ),
    path("uploads/<uuid:upload_id>/", UploadApi.as_view(), name="upload-detail"),
]
