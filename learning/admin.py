from django.contrib import admin

from learning.models import ModelVersion, Prediction


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "version", "taxonomy", "created_at"]
    list_filter = ["project"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "model_version", "predicted_node", "confidence", "uncertainty"]
    list_select_related = ["item", "model_version", "predicted_node"]
    raw_id_fields = ["item", "predicted_node"]
