"""Shapes of the parties API: output only. ID and phone numbers are always masked here; a whole number is shown
by the logged ``reveal`` action to holders of ``parties.view_personal_data``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from parties.models import Gender, Household, HouseholdKind, Organisation, OrganisationKind, Relation, Resident


class _Tags(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="name", many=True, read_only=True, help_text="Tag names.", **kwargs)


class ResidentSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code", help_text="Code of the grid.")
    gender = serializers.ChoiceField(choices=Gender.choices, allow_blank=True)
    relation = serializers.ChoiceField(choices=Relation.choices, allow_blank=True, help_text="Relation to the head.")
    id_number = serializers.CharField(source="id_number_mask", help_text="Masked: 5101**********1234.")
    phone = serializers.CharField(source="phone_mask", help_text="Masked: 138****5678.")
    tags = _Tags()

    class Meta:
        model = Resident
        fields = [
            "id",
            "name",
            "gender",
            "birth_date",
            "id_number",
            "phone",
            "household",
            "relation",
            "region",
            "tags",
            "moved_in_on",
            "moved_out_on",
            "deceased_on",
        ]


class HouseholdSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code", help_text="Code of the grid.")
    building = serializers.CharField(source="building.name", default="", help_text="Name of the building, if any.")
    kind = serializers.ChoiceField(choices=HouseholdKind.choices)
    head_name = serializers.CharField(default="", help_text="Name of the head of the household.")
    keeper = serializers.CharField(source="keeper.name", default="", help_text="Party member keeping in touch (包联).")
    tags = _Tags()

    class Meta:
        model = Household
        fields = [
            "id",
            "region",
            "building",
            "unit",
            "floor",
            "room",
            "address",
            "kind",
            "member_count",
            "head_name",
            "keeper",
            "last_visited_on",
            "tags",
        ]


class HouseholdDetailSerializer(HouseholdSerializer):
    members = serializers.SerializerMethodField(help_text="Residents, masked.")

    class Meta(HouseholdSerializer.Meta):
        fields = [*HouseholdSerializer.Meta.fields, "notes", "members"]

    @extend_schema_field(ResidentSerializer(many=True))
    def get_members(self, obj) -> list:
        return ResidentSerializer(self.context["members"], many=True).data


class OrganisationSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code", help_text="Code of the grid.")
    kind = serializers.ChoiceField(choices=OrganisationKind.choices)
    contact_phone = serializers.CharField(source="contact_phone_mask", help_text="Masked.")
    keeper = serializers.CharField(source="keeper.name", default="", help_text="Party member keeping in touch (包联).")
    tags = _Tags()

    class Meta:
        model = Organisation
        fields = [
            "id",
            "name",
            "uscc",
            "kind",
            "region",
            "address",
            "legal_representative",
            "contact_name",
            "contact_phone",
            "keeper",
            "last_visited_on",
            "tags",
        ]


class RevealInputSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=["id_number", "phone"], help_text="Which number to show whole.")


class RevealSerializer(serializers.Serializer):
    field = serializers.CharField()
    value = serializers.CharField(help_text="The whole number. This answer is written to the access log.")
