"""Shapes of the cases API. Output only, and input *descriptions*: the page forms validate the inputs, so the API
and the pages share every rule."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.models import Attachment, Case, CaseEvent, Category, Source, StepDeadline, Urgency, WorkOrder
from cases.workflow import RefusalReason, Satisfaction, State, WorkOrderState


class CategorySerializer(serializers.ModelSerializer):
    group = serializers.SerializerMethodField(help_text="Code of the group, null for a group itself.")
    time_limits = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField()),
        help_text="Working hours allowed per urgency and step (accept, dispatch, sign, complete, verify, evaluate).",
    )

    class Meta:
        model = Category
        fields = [
            "id",
            "code",
            "name",
            "group",
            "default_urgency",
            "time_limits",
            "escalation_grace_hours",
            "is_active",
        ]

    def get_group(self, obj) -> str | None:
        return obj.parent.code if obj.parent_id else None


class CaseSerializer(serializers.ModelSerializer):
    """A case as lists show it."""

    category = serializers.CharField(source="category.code", help_text="Category code.")
    category_name = serializers.CharField(source="category.name")
    region = serializers.CharField(source="region.code", help_text="Code of the grid.")
    region_name = serializers.CharField(source="region.name")
    light = serializers.ChoiceField(
        choices=["", "green", "yellow", "red"], help_text="Traffic light of the earliest open step ('' when none)."
    )
    state = serializers.ChoiceField(choices=State.choices)
    urgency = serializers.ChoiceField(choices=Urgency.choices)

    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "title",
            "category",
            "category_name",
            "urgency",
            "source",
            "state",
            "level",
            "region",
            "region_name",
            "address",
            "lat",
            "lng",
            "version",
            "created_at",
            "due_at",
            "light",
        ]


class CaseDetailSerializer(CaseSerializer):
    reporter_contact = serializers.SerializerMethodField(
        help_text="Whole for those who dispatch at the level holding the case, masked for others."
    )
    reporter = serializers.CharField(source="reporter.username", allow_null=True, default=None)
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    duplicate_of = serializers.CharField(source="duplicate_of.number", allow_null=True, default=None)
    satisfaction = serializers.CharField(allow_blank=True)

    class Meta(CaseSerializer.Meta):
        fields = [
            *CaseSerializer.Meta.fields,
            "description",
            "reporter",
            "reporter_contact",
            "assignee",
            "duplicate_of",
            "satisfaction",
            "rework_count",
            "closed_at",
            "updated_at",
        ]

    def get_reporter_contact(self, obj) -> str:
        from cases.views import mask_contact

        return obj.reporter_contact if self.context.get("may_see_contact") else mask_contact(obj.reporter_contact)


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Download address (API).")

    class Meta:
        model = Attachment
        fields = ["id", "original_name", "content_type", "size", "created_at", "url"]

    def get_url(self, obj) -> str:
        return f"/api/v1/attachments/{obj.pk}/download/"


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    work_order = serializers.IntegerField(source="work_order_id", allow_null=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    data = serializers.DictField(help_text="What the step recorded (departments, reason, satisfaction …).")

    class Meta:
        model = CaseEvent
        fields = [
            "id",
            "at",
            "actor",
            "transition",
            "from_state",
            "to_state",
            "comment",
            "work_order",
            "data",
            "attachments",
        ]


class WorkOrderSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="case_id")
    case_number = serializers.CharField(source="case.number")
    department = serializers.CharField(source="department.code")
    department_name = serializers.CharField(source="department.name")
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    state = serializers.ChoiceField(choices=WorkOrderState.choices)
    refusal_reason = serializers.CharField(allow_blank=True)

    class Meta:
        model = WorkOrder
        fields = [
            "id",
            "case",
            "case_number",
            "department",
            "department_name",
            "is_lead",
            "state",
            "round",
            "assignee",
            "note",
            "result",
            "refusal_reason",
            "due_at",
            "extension_until",
            "extension_state",
            "created_at",
            "signed_at",
            "done_at",
        ]


class InboxWorkOrderSerializer(WorkOrderSerializer):
    deadline_due_at = serializers.DateTimeField(allow_null=True, help_text="Due time of the open step (sign/complete).")
    light = serializers.CharField(help_text="Traffic light of the open step.")

    class Meta(WorkOrderSerializer.Meta):
        fields = [*WorkOrderSerializer.Meta.fields, "deadline_due_at", "light"]


class DeadlineSerializer(serializers.ModelSerializer):
    work_order = serializers.IntegerField(source="work_order_id", allow_null=True)
    status = serializers.ChoiceField(
        choices=["green", "yellow", "red", "paused", "on_time", "late", ""],
        help_text="Running: its light; paused; done on time or late.",
    )

    class Meta:
        model = StepDeadline
        fields = [
            "id",
            "step",
            "work_order",
            "level",
            "hours",
            "started_at",
            "yellow_at",
            "due_at",
            "closed_at",
            "paused_since",
            "status",
            "reminded_at",
            "urged_at",
            "supervised_at",
            "escalated_at",
        ]


class ActionsSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Send it back with a transition.")
    state = serializers.ChoiceField(choices=State.choices)
    transitions = serializers.ListField(child=serializers.CharField(), help_text="Codes for /transitions/{code}/.")
    work_orders = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Work order id → steps the caller may take on it (/work-orders/{id}/steps/{code}/).",
    )


class TransitionInputSerializer(serializers.Serializer):
    """Inputs of a transition; which ones a code needs is in docs/workflow.md."""

    version = serializers.IntegerField(min_value=0, help_text="The case version the caller saw (409 if stale).")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, help_text="Reason or note.")
    lead = serializers.IntegerField(required=False, help_text="dispatch/redispatch: id of the lead department.")
    assisting = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="dispatch/redispatch: assisting department ids."
    )
    due_at = serializers.DateTimeField(required=False, allow_null=True, help_text="dispatch: deadline (optional).")
    duplicate_of = serializers.CharField(required=False, max_length=32, help_text="mark_duplicate: case number.")
    satisfaction = serializers.ChoiceField(choices=Satisfaction.choices, required=False, help_text="evaluate.")
    assignee = serializers.CharField(required=False, max_length=150, help_text="assign: username.")
    files = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="settle, verify_ok, verify_failed: photos or PDF."
    )


class StepInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=0, help_text="The case version the caller saw (409 if stale).")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    refusal_reason = serializers.ChoiceField(choices=RefusalReason.choices, required=False, help_text="refuse.")
    result = serializers.CharField(required=False, max_length=4000, help_text="complete: what was done.")
    until = serializers.DateTimeField(required=False, help_text="request_extension: the new due time.")
    assignee = serializers.CharField(required=False, max_length=150, help_text="assign: a member's username.")
    files = serializers.ListField(child=serializers.FileField(), required=False, help_text="complete: photos or PDF.")


# Sources a person reports with (Open311 reports come through /open311/v2/ only).
REPORT_SOURCES = [(k, v) for k, v in Source.choices if k != Source.OPEN311]


class ReportInputSerializer(serializers.Serializer):
    category = serializers.IntegerField(help_text="Id of an active category (not a group).")
    title = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, help_text="Default: the category's.")
    source = serializers.ChoiceField(choices=REPORT_SOURCES, required=False, help_text="How it came in.")
    region = serializers.IntegerField(required=False, help_text="Id of the grid; or give lat and lng.")
    lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
    lng = serializers.FloatField(required=False, min_value=-180, max_value=180)
    address = serializers.CharField(required=False, allow_blank=True, max_length=200)
    reporter_contact = serializers.CharField(required=False, allow_blank=True, max_length=100)
    files = serializers.ListField(child=serializers.FileField(), required=False, help_text="Photos or PDF (multipart).")


@extend_schema_field({"type": "object", "additionalProperties": True})
class AnyObject(serializers.DictField):
    pass
