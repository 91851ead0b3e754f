from __future__ import annotations

from rest_framework import serializers

from grids.models import ApiToken, Department, Region


class RegionSerializer(serializers.ModelSerializer):
    level = serializers.IntegerField(source="depth", help_text="1 city, 2 district, 3 street, 4 community, 5 grid.")
    parent_code = serializers.SerializerMethodField(help_text="Code of the parent node, null for the city.")

    class Meta:
        model = Region
        fields = ["id", "code", "name", "abbr", "level", "parent_code", "centre_lat", "centre_lng", "is_active"]

    def get_parent_code(self, obj) -> str | None:
        parents = self.context.get("parent_codes") or {}
        return parents.get(obj.path[: -Region.steplen]) if obj.depth > 1 else None


class RegionDetailSerializer(RegionSerializer):
    class Meta(RegionSerializer.Meta):
        fields = [*RegionSerializer.Meta.fields, "boundary"]


class LocateQuerySerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90, help_text="Latitude (WGS 84).")
    lng = serializers.FloatField(min_value=-180, max_value=180, help_text="Longitude (WGS 84).")


class DepartmentSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", read_only=True, help_text="Code of the region served.")

    class Meta:
        model = Department
        fields = ["id", "code", "name", "kind", "region", "is_active"]


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=200, style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(max_length=60, required=False, default="API", help_text="What the token is for.")
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, allow_null=True, default=None, help_text="Days until it expires."
    )


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="The secret: shown this once, store it safely.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
