"""Serializers and fields that more than one API module answers or reads with."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from annotator import selectors
from annotator.models import Item, Membership, TaxonomyNode, TaxonomyNodeMapping


class TaxonomyNodeSerializer(serializers.ModelSerializer):
    parent = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = TaxonomyNode
        fields = ["id", "name", "path", "depth", "position", "is_leaf", "parent"]


class TaxonomyNodeMappingSerializer(serializers.Serializer):
    class Meta:
        ref_name = "TaxonomyNodeMapping"

    old_node = serializers.IntegerField(source="old_node_id")
    old_path = serializers.CharField(source="old_node.path")
    new_node = serializers.IntegerField(source="new_node_id")
    new_path = serializers.CharField(source="new_node.path")
    kind = serializers.ChoiceField(choices=TaxonomyNodeMapping.Kind.choices)


class TaxonomyChangesInputSerializer(serializers.Serializer):
    """Changes that make a new taxonomy version (``annotator.taxonomy.versions``)."""

    class Meta:
        ref_name = "TaxonomyVersionCreateInput"

    changes = serializers.ListField(
        child=serializers.DictField(),
        allow_empty=True,  # the service answers an empty list with its own message
        help_text='Operations in order: {"op": "add", "parent", "name"}, '
        '{"op": "rename", "path", "new_name"}, {"op": "move", "path", "parent"}, '
        '{"op": "merge", "paths", "into"}, '
        '{"op": "split", "path", "into": [names]}',
    )


class MemberOutputSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        ref_name = "Member"


class ItemOutputSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = [
            "id",
            "project",
            "image_url",
            "original_name",
            "width",
            "height",
            "format",
            "state",
            "priority",
            "created_at",
        ]

    def to_representation(self, item: Item) -> dict:
        data = super().to_representation(item)
        # With labelled imports the original path names the true class: leads only.
        if not selectors.project_can_manage(role=self.context.get("role", "")):
            data.pop("original_name")
        return data

    def get_image_url(self, item: Item) -> str:
        request = self.context.get("request")
        url = f"/api/items/{item.pk}/image/"
        return request.build_absolute_uri(url) if request else url


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class NodeField(serializers.Field):
    """A taxonomy node given by id (number) or by path (text)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "":
            raise ValidationError("Give a node id or a path such as animal/cat.")
        return data
