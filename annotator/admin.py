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
    Project,
    Taxonomy,
    TaxonomyNode,
    TaxonomyNodeMapping,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "max_human_annotations", "daily_quota_per_annotator"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "user", "role"]
    list_filter = ["role", "project"]


class TaxonomyNodeInline(admin.TabularInline):
    model = TaxonomyNode
    extra = 0
    fields = ["path", "name", "depth", "position", "is_leaf"]
    readonly_fields = fields


@admin.register(Taxonomy)
class TaxonomyAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "name", "version", "created_at"]
    inlines = [TaxonomyNodeInline]


@admin.register(TaxonomyNode)
class TaxonomyNodeAdmin(admin.ModelAdmin):
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


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record of what happened: viewable, never edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "project", "action", "actor_username", "target_type"]
    list_filter = ["action", "project"]
    search_fields = ["actor_username", "target_id"]


@admin.register(TaxonomyNodeMapping)
class TaxonomyNodeMappingAdmin(ReadOnlyAdmin):
    list_display = ["id", "taxonomy", "old_node", "new_node", "kind"]
    list_filter = ["kind", "taxonomy"]
