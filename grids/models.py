"""Region tree, staff accounts, departments, roles, grants and the audit trail.

Writes go through grids/services.py; permission questions go through grids/access.py.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.db import models
from django.db.models import Q
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from treebeard.mp_tree import MP_Node

from .codes import Level


class Region(MP_Node):
    """A node of the region tree (区划/网格): city → district → street → community → grid.

    Stored as a materialized path, so "everything under X" is one indexed prefix query on ``path``.
    """

    steplen = 4

    name = models.CharField(_("name"), max_length=100)
    code = models.CharField(_("code"), max_length=15, unique=True)
    abbr = models.CharField(
        _("abbreviation"), max_length=8, blank=True, help_text=_("Letters that begin case numbers, e.g. QS for 青石区.")
    )
    boundary = models.JSONField(_("boundary"), null=True, blank=True, help_text=_("GeoJSON Polygon or MultiPolygon"))
    centre_lat = models.FloatField(_("centre latitude"), null=True, blank=True)
    centre_lng = models.FloatField(_("centre longitude"), null=True, blank=True)
    # Bounding box of the boundary, kept by services so that locating a point is an indexed range query.
    min_lat = models.FloatField(null=True, blank=True, editable=False)
    max_lat = models.FloatField(null=True, blank=True, editable=False)
    min_lng = models.FloatField(null=True, blank=True, editable=False)
    max_lng = models.FloatField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        permissions = [
            ("manage_access", _("Grant and revoke roles on this region")),
            ("manage_department", _("Manage departments serving this region")),
            ("manage_staff", _("Manage staff accounts of this region")),
        ]
        indexes = [
            # LIKE 'prefix%' needs a pattern-ops index on PostgreSQL unless the database collation is C.
            models.Index(fields=["path"], name="region_path_prefix_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["depth", "min_lat", "max_lat"], name="region_locate_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def level(self) -> Level:
        return Level(self.depth)

    @property
    def accepts_work(self) -> bool:
        return self.is_active

    @property
    def region_path(self) -> str:
        return self.path

    def ancestor_paths(self) -> list[str]:
        """Paths of this node and every ancestor, root first (no query)."""
        return [self.path[: i * self.steplen] for i in range(1, self.depth + 1)]


class User(AbstractUser):
    """A staff account (工作人员). Who may do what where comes from grants, not from this row."""

    display_name = models.CharField(_("display name"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    region = models.ForeignKey(
        Region,
        verbose_name=_("main region"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
        help_text=_("The region this person mainly works in."),
    )
    language = models.CharField(_("language"), max_length=10, blank=True, choices=settings.LANGUAGES)
    must_change_password = models.BooleanField(
        _("must change the password at next login"),
        default=False,
        help_text=_("Set by an admin who chose the password; cleared when the person sets their own."),
    )
    # Part of the session hash: raising it signs the account out of every browser ("sign out everywhere").
    session_epoch = models.PositiveIntegerField(default=0, editable=False)
    # An integration (the 12345 hotline, a residents' app): it signs in only with tokens, which expire.
    is_service = models.BooleanField(_("integration account"), default=False, editable=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("staff account")
        verbose_name_plural = _("staff accounts")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def label(self) -> str:
        name = self.display_name or self.get_full_name()
        return f"{name} ({self.username})" if name else self.username

    def _get_session_auth_hash(self, secret=None):
        # Django signs sessions with an HMAC of the password hash; the epoch joins it so that sessions can be
        # ended without changing the password.
        return salted_hmac(
            "grids.User.session_auth_hash", f"{self.password}|{self.session_epoch}", secret=secret, algorithm="sha256"
        ).hexdigest()


class RegionUserObjectPermission(UserObjectPermissionBase):
    """A permission granted to a user on a region node; it holds for the whole subtree."""

    content_object = models.ForeignKey(Region, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        indexes = [models.Index(fields=["user", "permission"], name="region_uop_user_perm_idx")]


class RegionGroupObjectPermission(GroupObjectPermissionBase):
    """A permission granted to a team on a region node; it holds for the whole subtree."""

    content_object = models.ForeignKey(Region, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        indexes = [models.Index(fields=["group", "permission"], name="region_gop_group_perm_idx")]


class Role(models.Model):
    """A named bundle of permissions (角色) that is granted at a region node."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60)
    description = models.TextField(_("description"), blank=True)
    permissions = models.ManyToManyField(Permission, verbose_name=_("permissions"), blank=True)
    is_system = models.BooleanField(_("seeded"), default=False, editable=False)
    # "app.codename" the seeding has already given this role: later seeding adds only what is new, so a
    # permission an admin removed stays removed.
    seeded_permissions = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Grant(models.Model):
    """Who (a user or a team) holds what (a role or one permission) at which region node.

    The guardian rows are derived from these grants by grids.services, so revoking one role never removes a
    permission another grant still gives.
    """

    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="grants"
    )
    group = models.ForeignKey(Group, verbose_name=_("team"), null=True, blank=True, on_delete=models.CASCADE)
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.CASCADE, related_name="grants")
    permission = models.ForeignKey(Permission, null=True, blank=True, on_delete=models.CASCADE)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("grant")
        verbose_name_plural = _("grants")
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True))
                | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="grant_one_principal",
            ),
            models.CheckConstraint(
                condition=(Q(role__isnull=False) & Q(permission__isnull=True))
                | (Q(role__isnull=True) & Q(permission__isnull=False)),
                name="grant_role_or_permission",
            ),
            models.UniqueConstraint(
                fields=["region", "user", "role"],
                condition=Q(role__isnull=False, user__isnull=False),
                name="grant_uniq_ur",
            ),
            models.UniqueConstraint(
                fields=["region", "group", "role"],
                condition=Q(role__isnull=False, group__isnull=False),
                name="grant_uniq_gr",
            ),
            models.UniqueConstraint(
                fields=["region", "user", "permission"],
                condition=Q(permission__isnull=False, user__isnull=False),
                name="grant_uniq_up",
            ),
            models.UniqueConstraint(
                fields=["region", "group", "permission"],
                condition=Q(permission__isnull=False, group__isnull=False),
                name="grant_uniq_gp",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.principal_label} · {self.what_label} @ {self.region.name}"

    @property
    def principal_label(self) -> str:
        return self.user.label if self.user_id else _("team %(name)s") % {"name": self.group.name}

    @property
    def what_label(self) -> str:
        if self.role_id:
            return str(self.role)
        return f"{self.permission.content_type.app_label}.{self.permission.codename}"


class Department(models.Model):
    """A functional department (职能部门) such as 城管执法 or 市场监管, serving a district or a street."""

    name = models.CharField(_("name"), max_length=100)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.SlugField(
        _("kind"),
        max_length=20,
        blank=True,
        help_text=_("What it is, the same in every district: e.g. cgzf for 城管执法."),
    )
    region = models.ForeignKey(
        Region, verbose_name=_("serves region"), on_delete=models.PROTECT, related_name="departments"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), blank=True, related_name="departments"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @property
    def region_path(self) -> str:
        return self.region.path


class AuditLog(models.Model):
    """One row per change, written in the same transaction as the change (never updated)."""

    acted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=50)
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target_type = models.CharField(max_length=50)
    target_id = models.CharField(max_length=50)
    target_repr = models.CharField(max_length=200)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-acted_at", "-id"]
        indexes = [models.Index(fields=["region", "-acted_at"], name="audit_region_idx")]

    def __str__(self) -> str:
        return f"{self.acted_at:%Y-%m-%d %H:%M} {self.action} {self.target_repr}"


class ApiToken(models.Model):
    """A bearer token of the REST API (接口令牌): a person's own, or an integration's (a service account).

    Only the SHA-256 of the secret is stored; the secret is shown once, when the token is made. ``prefix`` (the
    first characters of the secret) lets people tell their tokens apart.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=60)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        from django.utils import timezone

        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())
