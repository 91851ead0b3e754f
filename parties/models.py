"""The people and organisations of the grid, and the party organisation laid over it (大党建+小网格).

Households (户) and their residents (居民), organisations (单位/企业), buildings (楼栋) so that addresses are chosen,
party organisations (党组织) and members (党员) with the households and organisations each keeps in touch with
(包联户/包联企业), visits (走访), and the log of every unmasked view of personal data.

Every row is placed in a region (``region``: a grid, or the node a party organisation serves), so the access policy
(grids/access.py) scopes it as it scopes cases. ID and phone numbers are never stored in plain text: a Fernet token
(``*_enc``), a keyed hash for exact search (``*_hash``) and the mask everyone may see (``*_mask``); see crypto.py.
Writes go through parties/services.py.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from grids.models import Region


class TagKind(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    HOUSEHOLD = "household", _("Household")
    ORGANISATION = "organisation", _("Organisation")


class Tag(models.Model):
    """A label such as 独居老人, 残疾, 低保, 退役军人, 重点人员, 党员, 流动人口 (admin-editable)."""

    kind = models.CharField(_("for"), max_length=12, choices=TagKind.choices, default=TagKind.RESIDENT)
    code = models.SlugField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=30)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        default_permissions = ()
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["kind", "sort_order", "code"]
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="parties_tag_uniq")]

    def __str__(self) -> str:
        return self.name


class Building(models.Model):
    """A building (楼栋) of a grid: households and organisations choose it rather than type it."""

    region = models.ForeignKey(Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="buildings")
    name = models.CharField(_("name"), max_length=60, help_text=_("e.g. 3栋 or 和平小区3栋"))
    address = models.CharField(_("street address"), max_length=200, blank=True)
    sort_key = models.CharField(max_length=80, editable=False, default="")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["sort_key", "id"]
        constraints = [models.UniqueConstraint(fields=["region", "name"], name="parties_building_uniq")]

    def __str__(self) -> str:
        return self.name

    @property
    def region_path(self) -> str:
        return self.region.path


class HouseholdKind(models.TextChoices):
    RESIDENT = "resident", _("Owner-occupied")  # 自住
    RENTED = "rented", _("Rented")  # 出租
    VACANT = "vacant", _("Vacant")  # 空置
    COLLECTIVE = "collective", _("Collective")  # 集体户


class Household(models.Model):
    """A household (户) at an address of a grid: building / unit / floor / room, or a free address line."""

    # No index of its own on region (nor below on the residents' region and household): the composite indexes
    # begin with it, and every index costs inserts at this size (seed_parties, imports).
    region = models.ForeignKey(
        Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="households", db_index=False
    )
    building = models.ForeignKey(
        Building, verbose_name=_("building"), null=True, blank=True, on_delete=models.PROTECT, related_name="households"
    )
    unit = models.CharField(_("unit"), max_length=10, blank=True)  # 单元
    floor = models.SmallIntegerField(_("floor"), null=True, blank=True)
    room = models.CharField(_("room"), max_length=20, blank=True)
    address = models.CharField(_("address line"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=HouseholdKind.choices, default=HouseholdKind.RESIDENT)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="households")
    notes = models.TextField(_("notes"), blank=True)
    # Kept by the services: the list's order (building, unit, room with numbers padded), how many live here, who
    # keeps in touch (包联) and when someone last visited, so lists and coverage counts read one table.
    sort_key = models.CharField(max_length=120, editable=False, default="")
    member_count = models.PositiveSmallIntegerField(default=0, editable=False)
    keeper = models.ForeignKey(
        "PartyMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    last_visited_on = models.DateField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        default_permissions = ()
        verbose_name = _("household")
        verbose_name_plural = _("households")
        permissions = [
            ("view_household", _("See households, residents, organisations and visits")),
            ("change_household", _("Add and edit households, residents, organisations and buildings; import them")),
            ("view_personal_data", _("Show whole ID and phone numbers (each view is logged)")),
            ("record_visit", _("Record visits to households and organisations")),
            ("manage_party", _("Manage party organisations, members and 包联")),
            ("view_access_log", _("Read the log of personal data views")),
        ]
        indexes = [
            models.Index(fields=["region", "sort_key", "id"], name="household_grid_order_idx"),
            # The coverage counts read only this index (active households: keeper and last visit per grid).
            models.Index(
                fields=["region", "keeper", "last_visited_on"], name="household_cover_idx", condition=Q(is_active=True)
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The address as people say it: 3栋2单元501, else the address line."""
        parts = []
        if self.building_id:
            parts.append(self.building.name)
        if self.unit:
            parts.append(f"{self.unit}单元" if self.unit.isdigit() else self.unit)
        if self.room:
            parts.append(self.room)
        label = "".join(parts)
        if self.address:
            label = f"{label} {self.address}".strip() if label else self.address
        return label or f"#{self.pk}"

    @property
    def region_path(self) -> str:
        return self.region.path


class Gender(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class Relation(models.TextChoices):
    HEAD = "head", _("Head of household")  # 户主
    SPOUSE = "spouse", _("Spouse")  # 配偶
    CHILD = "child", _("Child")  # 子女
    PARENT = "parent", _("Parent")  # 父母
    GRANDCHILD = "grandchild", _("Grandchild")  # 孙辈
    SIBLING = "sibling", _("Sibling")  # 兄弟姐妹
    TENANT = "tenant", _("Tenant")  # 租户
    OTHER = "other", _("Other")  # 其他


class Resident(models.Model):
    """A resident (居民). One household at a time (``household``); the moves are kept in ``Residence``."""

    region = models.ForeignKey(
        Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="residents", db_index=False
    )
    household = models.ForeignKey(
        Household,
        verbose_name=_("household"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        db_index=False,
    )
    relation = models.CharField(_("relation to the head"), max_length=12, choices=Relation.choices, blank=True)
    name = models.CharField(_("name"), max_length=50)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    id_number_enc = models.TextField(blank=True, editable=False)
    id_number_hash = models.CharField(max_length=64, blank=True, editable=False)
    id_number_mask = models.CharField(_("ID number"), max_length=18, blank=True, editable=False)
    phone_enc = models.TextField(blank=True, editable=False)
    phone_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    phone_mask = models.CharField(_("phone"), max_length=11, blank=True, editable=False)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="residents")
    moved_in_on = models.DateField(_("moved in"), null=True, blank=True)
    moved_out_on = models.DateField(_("moved out"), null=True, blank=True)
    deceased_on = models.DateField(_("deceased"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        default_permissions = ()
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        constraints = [
            # One record per person: the same ID number cannot be entered twice.
            models.UniqueConstraint(
                fields=["id_number_hash"], condition=~Q(id_number_hash=""), name="resident_id_number_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["household", "id"], name="resident_household_idx"),
            models.Index(fields=["region", "name"], name="resident_region_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def region_path(self) -> str:
        return self.region.path

    @property
    def is_living_here(self) -> bool:
        return self.household_id is not None and self.deceased_on is None


class Residence(models.Model):
    """One stay of a resident in a household (迁入/迁出): the history of moves."""

    resident = models.ForeignKey(Resident, on_delete=models.CASCADE, related_name="residences")
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="residences")
    relation = models.CharField(max_length=12, choices=Relation.choices, blank=True)
    moved_in_on = models.DateField(_("moved in"), null=True, blank=True)
    moved_out_on = models.DateField(_("moved out"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["resident"], condition=Q(moved_out_on__isnull=True), name="residence_one_current"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resident_id} @ {self.household_id}"


class OrganisationKind(models.TextChoices):
    ENTERPRISE = "enterprise", _("Enterprise")  # 企业
    PRIVATE_NON_ENTERPRISE = "non_enterprise", _("Private non-enterprise unit")  # 民办非企业单位
    GOVERNMENT = "government", _("Government or public body")  # 机关事业单位
    SHOP = "shop", _("Shop or individual business")  # 个体工商户/商铺
    SOCIAL = "social", _("Social organisation")  # 社会团体
    OTHER = "other", _("Other")


class Organisation(models.Model):
    """An organisation or enterprise (单位/企业) of a grid, with its unified social credit code (GB 32100)."""

    region = models.ForeignKey(Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="organisations")
    name = models.CharField(_("name"), max_length=120)
    uscc = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    kind = models.CharField(
        _("kind"), max_length=16, choices=OrganisationKind.choices, default=OrganisationKind.ENTERPRISE
    )
    building = models.ForeignKey(
        Building,
        verbose_name=_("building"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="organisations",
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    legal_representative = models.CharField(_("legal representative"), max_length=50, blank=True)
    contact_name = models.CharField(_("contact"), max_length=50, blank=True)
    contact_phone_enc = models.TextField(blank=True, editable=False)
    contact_phone_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    contact_phone_mask = models.CharField(_("contact phone"), max_length=11, blank=True, editable=False)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="organisations")
    notes = models.TextField(_("notes"), blank=True)
    keeper = models.ForeignKey(
        "PartyMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    last_visited_on = models.DateField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        default_permissions = ()
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        constraints = [models.UniqueConstraint(fields=["uscc"], condition=~Q(uscc=""), name="organisation_uscc_uniq")]
        indexes = [
            models.Index(fields=["region", "name", "id"], name="organisation_grid_idx"),
            models.Index(
                fields=["region", "keeper", "last_visited_on"],
                name="organisation_cover_idx",
                condition=Q(is_active=True),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def region_path(self) -> str:
        return self.region.path


class NamedParty:
    """What a party named by a record of an app above shows (``cases.CaseParty``, ``mediation.DisputeParty``): a
    resident or an organisation on record, or a person typed free (``name``). Whole numbers follow the record's grid,
    or for a typed party the grid of the record that names it: the field ``named_by`` ("case", "dispute")."""

    named_by = ""

    @property
    def label(self) -> str:
        if self.resident_id:
            return self.resident.name
        if self.organisation_id:
            return self.organisation.name
        return self.name

    @property
    def region_path(self) -> str:
        if self.resident_id:
            return self.resident.region.path
        if self.organisation_id:
            return self.organisation.region.path
        return getattr(self, self.named_by).region.path


class PartyOrgKind(models.TextChoices):
    """The levels of the party organisation over the grid, each serving a region level."""

    STREET = "street", _("Street party working committee")  # 街道党工委
    COMMUNITY = "community", _("Community party committee")  # 社区党委
    GRID = "grid", _("Grid party branch")  # 网格党支部
    BUILDING = "building", _("Building party group")  # 楼栋党小组


# The region level (grids.codes.Level) each kind serves, and the kind of its parent.
PARTY_ORG_LEVEL = {PartyOrgKind.STREET: 3, PartyOrgKind.COMMUNITY: 4, PartyOrgKind.GRID: 5, PartyOrgKind.BUILDING: 5}
PARTY_ORG_PARENT = {
    PartyOrgKind.STREET: None,
    PartyOrgKind.COMMUNITY: PartyOrgKind.STREET,
    PartyOrgKind.GRID: PartyOrgKind.COMMUNITY,
    PartyOrgKind.BUILDING: PartyOrgKind.GRID,
}


class PartyOrg(models.Model):
    """A party organisation (党组织): its own tree, each node naming the region it serves."""

    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=PartyOrgKind.choices)
    name = models.CharField(_("name"), max_length=100)
    region = models.ForeignKey(
        Region, verbose_name=_("serves region"), on_delete=models.PROTECT, related_name="party_orgs"
    )
    building = models.ForeignKey(
        Building, verbose_name=_("building"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        verbose_name = _("party organisation")
        verbose_name_plural = _("party organisations")
        ordering = ["region__path", "kind", "name"]
        indexes = [models.Index(fields=["region", "kind"], name="partyorg_region_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def region_path(self) -> str:
        return self.region.path


class PartyMember(models.Model):
    """A party member (党员): linked to a resident and/or a staff account, with the limits of their 包联."""

    org = models.ForeignKey(
        PartyOrg, verbose_name=_("party organisation"), on_delete=models.PROTECT, related_name="members"
    )
    # The region of the organisation, kept by the services, so members are scoped like every other row.
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="party_members", editable=False)
    name = models.CharField(_("name"), max_length=50)
    resident = models.OneToOneField(
        Resident,
        verbose_name=_("resident record"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="party_member",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="party_member",
    )
    joined_on = models.DateField(_("joined the party"), null=True, blank=True)
    household_limit = models.PositiveSmallIntegerField(_("at most households"), default=10)
    organisation_limit = models.PositiveSmallIntegerField(_("at most organisations"), default=5)
    # Kept by the services: how many households and organisations the member keeps in touch with now.
    household_count = models.PositiveSmallIntegerField(default=0, editable=False)
    organisation_count = models.PositiveSmallIntegerField(default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        verbose_name = _("party member")
        verbose_name_plural = _("party members")
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["org", "name"], name="partymember_org_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def region_path(self) -> str:
        return self.region.path


class Keeping(models.Model):
    """包联: a party member keeps in touch with one household or one organisation (one keeper each at a time)."""

    member = models.ForeignKey(PartyMember, on_delete=models.PROTECT, related_name="keepings")
    household = models.OneToOneField(Household, null=True, blank=True, on_delete=models.CASCADE, related_name="keeping")
    organisation = models.OneToOneField(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="keeping"
    )
    since = models.DateField(_("since"))
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        default_permissions = ()
        constraints = [
            models.CheckConstraint(
                condition=(Q(household__isnull=False) & Q(organisation__isnull=True))
                | (Q(household__isnull=True) & Q(organisation__isnull=False)),
                name="keeping_one_target",
            )
        ]
        indexes = [models.Index(fields=["member", "id"], name="keeping_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} → {self.household_id or self.organisation_id}"


class VisitNeed(models.TextChoices):
    """Needs found on a visit (a short list; anything else goes in free text)."""

    ELDERLY = "elderly", _("Care for an elderly person")  # 老人关爱
    HARDSHIP = "hardship", _("Hardship relief")  # 困难帮扶
    DISABILITY = "disability", _("Disability services")  # 助残服务
    DISPUTE = "dispute", _("Dispute between neighbours")  # 矛盾纠纷
    SAFETY = "safety", _("Safety hazard")  # 安全隐患
    ENVIRONMENT = "environment", _("Sanitation or environment")  # 环境卫生
    REPAIRS = "repairs", _("Repairs or facilities")  # 设施维修
    POLICY = "policy", _("Question about a policy")  # 政策咨询


class Visit(models.Model):
    """A visit (走访) to a household or an organisation by a grid worker or a party member."""

    region = models.ForeignKey(
        Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="visits", db_index=False
    )
    household = models.ForeignKey(
        Household,
        verbose_name=_("household"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits",
        db_index=False,
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits",
    )
    visited_on = models.DateField(_("date"))
    visitor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("visitor"), on_delete=models.PROTECT, related_name="visits"
    )
    member = models.ForeignKey(
        PartyMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="visits", editable=False
    )
    people_met = models.ManyToManyField(Resident, verbose_name=_("people met"), blank=True, related_name="visits")
    people_met_text = models.CharField(_("others met"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    needs = models.JSONField(_("needs found"), default=list, blank=True)
    needs_text = models.CharField(_("other needs"), max_length=300, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        constraints = [
            models.CheckConstraint(
                condition=(Q(household__isnull=False) & Q(organisation__isnull=True))
                | (Q(household__isnull=True) & Q(organisation__isnull=False)),
                name="visit_one_target",
            )
        ]
        indexes = [
            models.Index(fields=["region", "-visited_on", "-id"], name="visit_grid_idx"),
            models.Index(fields=["household", "-visited_on"], name="visit_household_idx"),
            models.Index(fields=["organisation", "-visited_on"], name="visit_organisation_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.visited_on} {self.target}"

    @property
    def target(self):
        return self.household if self.household_id else self.organisation

    @property
    def region_path(self) -> str:
        return self.region.path

    @property
    def need_labels(self) -> list[str]:
        return [str(VisitNeed(n).label) for n in self.needs if n in VisitNeed.values]


def visit_photo_path(instance: VisitPhoto, filename: str) -> str:
    return f"visits/{instance.visit_id}/{instance.sha256}{instance.extension}"


class VisitPhoto(models.Model):
    """A photo of a visit, checked by content; served only to people who may see the visit."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="photos")
    file = models.FileField(upload_to=visit_photo_path, max_length=200)
    content_type = models.CharField(max_length=50)
    extension = models.CharField(max_length=8)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.visit_id}/{self.pk}"


class PersonalField(models.TextChoices):
    ID_NUMBER = "id_number", _("ID number")
    PHONE = "phone", _("Phone")
    CONTACT_PHONE = "contact_phone", _("Contact phone")
    EXPORT = "export", _("Unmasked export")


class AccessLog(models.Model):
    """One unmasked view of personal data (who, when, which record, which field). Never updated or deleted."""

    at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    target_type = models.CharField(max_length=20)  # resident, organisation, case_party, export
    target_id = models.BigIntegerField(null=True, blank=True)
    target_label = models.CharField(max_length=200)  # a name or a description, never the value shown
    field = models.CharField(max_length=16, choices=PersonalField.choices)
    rows = models.PositiveIntegerField(default=1)  # rows of an export

    class Meta:
        default_permissions = ()
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["region", "-at"], name="accesslog_region_idx"),
            models.Index(fields=["user", "-at"], name="accesslog_user_idx"),
            models.Index(fields=["target_type", "target_id", "-at"], name="accesslog_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user_id} {self.target_type}:{self.target_id} {self.field}"


class ImportState(models.TextChoices):
    PREVIEW = "preview", _("Previewed, not confirmed")
    QUEUED = "queued", _("Waiting for a worker")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed: nothing was written")


class ImportJob(models.Model):
    """An import of households with residents, or of organisations, checked by a preview and run in Celery.

    The file is kept in the database (not on a disk the worker may not share) and emptied once the job ends.
    """

    kind = models.CharField(max_length=16)  # households, organisations
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=200)
    data = models.BinaryField(editable=False)
    state = models.CharField(max_length=10, choices=ImportState.choices, default=ImportState.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=20, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.filename} ({self.state})"

    @property
    def region_path(self) -> str:
        return self.region.path
