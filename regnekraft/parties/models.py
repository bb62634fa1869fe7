"""Who takes part: organisations, people, their roles, and projects."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from regnekraft.audit.log import audited


class OrganisationKind(models.TextChoices):
    RESEARCH = "research", _("Research organisation")
    PUBLIC = "public", _("Public agency")
    INDUSTRY = "industry", _("Industry")
    INTERNATIONAL = "international", _("International")


class UserGroup(models.TextChoices):
    """The top-level groups that shares and reports count by."""

    RESEARCH = "research", _("Research")
    PUBLIC = "public", _("Public sector")
    INDUSTRY = "industry", _("Industry")


# International research partners count as research (000: the protected share is research's).
RESEARCH_KINDS = (OrganisationKind.RESEARCH, OrganisationKind.INTERNATIONAL)


class Sensitivity(models.IntegerChoices):
    """Data sensitivity, ordered (000:1964-1968, 2740-2760)."""

    OPEN = 0, _("Open")
    SHIELDED = 1, _("Personal or shielded data")
    RESTRICTED = 2, _("Graded: restricted (begrenset)")
    CONFIDENTIAL = 3, _("Graded: confidential (konfidensielt)")
    SECRET = 4, _("Graded: secret (hemmelig)")
    TOP_SECRET = 5, _("Graded: top secret (strengt hemmelig)")


class Purpose(models.TextChoices):
    RESEARCH_RD = "research_rd", _("Research-driven R&D")
    ADMIN_RD = "admin_rd", _("Administration-driven R&D")
    CRITICAL_SERVICE = "critical_service", _("Development of a society-critical service")
    NATIONAL_AI = "national_ai", _("National AI model")
    COMMERCIAL = "commercial", _("Commercial (economic activity)")


class RoleKind(models.TextChoices):
    PI = "pi", _("Principal investigator")
    MEMBER = "member", _("Project member")
    REVIEWER = "reviewer", _("Reviewer (allocation committee)")
    COORDINATOR = "coordinator", _("Sector coordinator")
    INDUSTRY = "industry", _("Industry customer")
    OPERATOR = "operator", _("Platform operator")
    FINANCE = "finance", _("Finance")
    DECISION_MAKER = "decision_maker", _("Decision maker")


class OrganisationQuerySet(models.QuerySet):
    def research(self) -> OrganisationQuerySet:
        """Research organisations, the group research's protected share is kept for."""
        return self.filter(kind__in=RESEARCH_KINDS)

    def non_research(self) -> OrganisationQuerySet:
        return self.exclude(kind__in=RESEARCH_KINDS)


@audited
class Organisation(models.Model):
    name = models.CharField(max_length=200, unique=True)
    short_name = models.CharField(max_length=30, unique=True)
    kind = models.CharField(max_length=20, choices=OrganisationKind.choices)
    sector = models.CharField(
        max_length=100,
        blank=True,
        help_text="public agencies: their area of administration (forvaltningsområde)",
    )
    is_sme = models.BooleanField(
        default=False, help_text="industry: small or medium-sized enterprise"
    )
    is_bott = models.BooleanField(
        default=False, help_text="one of the universities of Bergen, Oslo, NTNU, Tromsø"
    )
    country = models.CharField(max_length=2, default="NO")
    org_number = models.CharField(max_length=20, blank=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.short_name

    def clean(self) -> None:
        if self.kind == OrganisationKind.PUBLIC and not self.sector.strip():
            raise ValidationError(
                {"sector": _("a public agency needs its sector (forvaltningsområde)")}
            )

    @property
    def is_research(self) -> bool:
        return self.kind in RESEARCH_KINDS

    @property
    def is_economic(self) -> bool:
        """An organisation's own orders are economic activity when it is a business."""
        return self.kind == OrganisationKind.INDUSTRY

    @property
    def user_group(self) -> str:
        """The top-level group used for shares and reports (a :class:`UserGroup` value)."""
        return UserGroup.RESEARCH if self.is_research else UserGroup(self.kind)


class Person(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="person"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="people")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    slurm_username = models.CharField(max_length=64, blank=True)
    language = models.CharField(
        max_length=10,
        choices=settings.LANGUAGES,
        default="nb",
        help_text="the language of the e-mails the person gets",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name

    def has_role(self, kind: str) -> bool:
        return self.roles.filter(kind=kind).exists()


@audited
class Role(models.Model):
    """A platform-wide role; a coordinator's role is scoped to one sector."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="roles")
    kind = models.CharField(max_length=20, choices=RoleKind.choices)
    sector = models.CharField(
        max_length=100, blank=True, help_text="coordinators: the sector they order for"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "kind", "sector"], name="unique_role")
        ]

    def __str__(self) -> str:
        return (
            f"{self.person} as {self.get_kind_display()}"
            f"{' (' + self.sector + ')' if self.sector else ''}"
        )

    def clean(self) -> None:
        if self.kind == RoleKind.COORDINATOR and not self.sector.strip():
            raise ValidationError(
                {"sector": _("a sector coordinator must have the sector they coordinate")}
            )
        if self.kind != RoleKind.COORDINATOR and self.sector:
            raise ValidationError({"sector": _("only sector coordinators have a sector")})


REQUIRED_TIER = {
    Purpose.RESEARCH_RD: 1,
    Purpose.ADMIN_RD: 2,
    Purpose.NATIONAL_AI: 2,
    Purpose.CRITICAL_SERVICE: 3,
    Purpose.COMMERCIAL: 1,
}


# Economic activity in the state-aid sense (000:1180-1188): a commercial purpose, or an
# industry owner whatever the purpose. Written once, for rows and for queries.
class ProjectQuerySet(models.QuerySet):
    def economic(self) -> ProjectQuerySet:
        return self.filter(economic_q())

    def non_economic(self) -> ProjectQuerySet:
        return self.exclude(economic_q())

    def research(self) -> ProjectQuerySet:
        return self.filter(organisation__kind__in=RESEARCH_KINDS)


def economic_q(prefix: str = "") -> models.Q:
    """:data:`ECONOMIC` seen from a model that points at a project through ``prefix``
    (``"project__"`` from an allocation or a usage record)."""
    return models.Q(**{f"{prefix}purpose": Purpose.COMMERCIAL}) | models.Q(
        **{f"{prefix}organisation__kind": OrganisationKind.INDUSTRY}
    )


def research_q(prefix: str = "") -> models.Q:
    return models.Q(**{f"{prefix}organisation__kind__in": RESEARCH_KINDS})


@audited
class Project(models.Model):
    code = models.CharField(
        max_length=30, unique=True, help_text="also the Slurm account name, e.g. nn1234k"
    )
    title = models.CharField(max_length=300)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="projects"
    )
    pi = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="led_projects")
    members = models.ManyToManyField(Person, blank=True, related_name="projects")
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.RESEARCH_RD)
    sensitivity = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices, default=Sensitivity.OPEN
    )
    eu_funded = models.BooleanField(
        default=False, help_text="EU application: price category D (in-kind)"
    )
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def is_economic(self) -> bool:
        """Economic activity in the state-aid sense: commercial purpose or an industry owner."""
        return (
            self.purpose == Purpose.COMMERCIAL
            or self.organisation.kind == OrganisationKind.INDUSTRY
        )  # the row form of ECONOMIC

    def participant_ids(self) -> set[int]:
        """The people who take part: the PI and the members (who may not review it)."""
        return {self.pi_id, *(m.pk for m in self.members.all())}

    @property
    def required_tier(self) -> int:
        return REQUIRED_TIER[Purpose(self.purpose)]

    @property
    def sector(self) -> str:
        return self.organisation.sector
