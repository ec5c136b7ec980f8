"""What to export: the options a user may choose, and the spec a writer works from."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from annotator.exceptions import InvalidInput
from annotator.models import Export, ModelVersion, Project, Taxonomy
from annotator.selectors import model_version_latest, taxonomy_current

# The version the API advertises is the application's version.
ARBOR_VERSION = settings.SPECTACULAR_SETTINGS["VERSION"]

LAYOUTS = ("nested", "flat")


@dataclass(frozen=True)
class ExportOptions:
    human_only: bool = False
    include_auto: bool = False
    min_agreement: float | None = None
    layout: str | None = None  # ImageFolder only: nested (the default) or flat


def export_options_clean(*, format: str, options: Mapping[str, Any] | None) -> ExportOptions:
    """Validated options for ``format``; raises InvalidInput with a message for the user."""
    if format not in Export.Format.values:
        raise InvalidInput(
            f"Unknown format {format!r}; use one of {', '.join(Export.Format.values)}."
        )
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise InvalidInput("options must be an object.")
    known = ExportOptions.__dataclass_fields__.keys()
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidInput(f"Unknown option(s) {', '.join(unknown)}; use {', '.join(known)}.")
    for name in ("human_only", "include_auto"):
        if not isinstance(options.get(name, False), bool):
            raise InvalidInput(f"{name} must be true or false.")
    if options.get("human_only") and options.get("include_auto"):
        raise InvalidInput("human_only and include_auto exclude each other: choose one.")
    min_agreement = options.get("min_agreement")
    if min_agreement is not None and (
        isinstance(min_agreement, bool)
        or not isinstance(min_agreement, int | float)
        or not 0 <= min_agreement <= 1
    ):
        raise InvalidInput("min_agreement must be a number from 0 to 1.")
    layout = options.get("layout")
    if format == Export.Format.IMAGEFOLDER:
        layout = layout or "nested"
        if layout not in LAYOUTS:
            raise InvalidInput(f"layout must be one of {', '.join(LAYOUTS)}.")
    elif layout is not None:
        raise InvalidInput("layout applies to imagefolder exports only.")
    return ExportOptions(
        human_only=options.get("human_only", False),
        include_auto=options.get("include_auto", False),
        min_agreement=None if min_agreement is None else float(min_agreement),
        layout=layout,
    )


@dataclass(frozen=True)
class ExportSpec:
    """Everything a writer needs: the project, the versions and the options."""

    project: Project
    format: str
    options: ExportOptions
    taxonomy: Taxonomy
    model_version: ModelVersion | None
    as_of: dt.datetime
    export_id: int | None = None


def export_spec_build(*, project: Project, format: str, options: ExportOptions) -> ExportSpec:
    """A spec for an export of the project as it is now (the command line's way in)."""
    taxonomy = taxonomy_current(project=project)
    if taxonomy is None:
        raise InvalidInput("This project has no taxonomy, so nothing to export.")
    return ExportSpec(
        project=project,
        format=format,
        options=options,
        taxonomy=taxonomy,
        model_version=model_version_latest(project=project),
        as_of=timezone.now(),
    )


def export_spec_for(export: Export) -> ExportSpec:
    """The spec of a recorded export: the versions and the moment it was requested."""
    return ExportSpec(
        project=export.project,
        format=export.format,
        options=ExportOptions(**export.options),
        taxonomy=export.taxonomy,
        model_version=export.model_version,
        as_of=export.created_at,
        export_id=export.pk,
    )


def export_provenance(spec: ExportSpec) -> dict[str, Any]:
    """Where the data came from; written into every export file."""
    model_version = spec.model_version
    return {
        "arbor_version": ARBOR_VERSION,
        "export_id": spec.export_id,
        "format": spec.format,
        "project": {"id": spec.project.pk, "name": spec.project.name},
        "taxonomy": {
            "id": spec.taxonomy.pk,
            "version": spec.taxonomy.version,
            "name": spec.taxonomy.name,
            "levels": spec.taxonomy.levels,
        },
        "model_version": (
            {"id": model_version.pk, "version": model_version.version} if model_version else None
        ),
        "as_of": spec.as_of.isoformat(),
        "created_at": timezone.now().isoformat(),
        "filters": asdict(spec.options),
        "label_rule": "majority of human answers, top-down by level, ties to the most recent; "
        "auto-accepted labels only where no human answered",
    }
