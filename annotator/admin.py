from django.contrib import admin
from django.utils.html import format_html

from annotator.models import (
    Annotation,
    Assignment,
    AuditEvent,
    Export,
    ImportJob,
    Item,
    Membership,
    ModelVersion,
    Prediction,
    Project,
    Taxonomy,
    TaxonomyNode,
    TaxonomyNodeMapping,
)


class ReadOnlyMixin:
    """Viewable, never edited by hand: records of what happened, and what the services
    change only together with an audit event (settings, budgets, members, taxonomies)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(ReadOnlyMixin, admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "name", "max_human_annotations", "daily_quota_per_annotator"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "project", "user", "role"]
    list_filter = ["role", "project"]


class TaxonomyNodeInline(ReadOnlyMixin, admin.TabularInline):
    model = TaxonomyNode
    extra = 0
    fields = ["path", "name", "depth", "position", "is_leaf"]


@admin.register(Taxonomy)
class TaxonomyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "project", "name", "version", "created_at"]
    inlines = [TaxonomyNodeInline]


@admin.register(TaxonomyNode)
class TaxonomyNodeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "taxonomy", "path", "depth", "is_leaf"]
    list_filter = ["taxonomy"]
    search_fields = ["path"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "original_name", "state", "priority", "width", "height"]
    list_filter = ["state", "project"]
    search_fields = ["original_name", "content_hash"]
    raw_id_fields = ["ground_truth"]
    # Images are served only through the scoped API (there is no public MEDIA_URL).
    exclude = ["image"]
    readonly_fields = ["image_preview"]

    @admin.display(description="image")
    def image_preview(self, item: Item) -> str:
        return format_html('<img src="/api/items/{}/image/" alt="" height="96">', item.pk)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "item", "annotator", "state", "expires_at"]
    list_filter = ["state", "project"]
    raw_id_fields = ["item", "annotator", "prediction"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "item", "annotator", "node", "source", "created_at"]
    list_filter = ["source", "project"]
    raw_id_fields = ["item", "annotator", "node", "assignment", "prediction", "model_version"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "state", "processed", "total", "imported", "created_at"]
    list_filter = ["state"]


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "format", "state", "processed", "total", "created_at"]
    list_filter = ["state", "format"]
    raw_id_fields = ["created_by", "taxonomy", "model_version"]
    # Files have no public URL (MEDIA_URL is unset), which the file widget needs: show
    # the stored name instead; downloads go through the scoped API.
    exclude = ["file"]
    readonly_fields = ["stored_file"]

    @admin.display(description="file")
    def stored_file(self, export: Export) -> str:
        return export.file.name


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "project", "action", "actor_username", "target_type"]
    list_filter = ["action", "project"]
    search_fields = ["actor_username", "target_id"]


@admin.register(TaxonomyNodeMapping)
class TaxonomyNodeMappingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "taxonomy", "old_node", "new_node", "kind"]
    list_filter = ["kind", "taxonomy"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "version", "taxonomy", "created_at"]
    list_filter = ["project"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "model_version", "predicted_node", "confidence", "uncertainty"]
    list_select_related = ["item", "model_version", "predicted_node"]
    raw_id_fields = ["item", "predicted_node"]
