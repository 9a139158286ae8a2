"""People, roles and the bank's organisation: who may see and do what."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.core.crypto import EncryptedTextField
from bankcrm.core.models import TimeStampedModel, UUIDModel

from .querysets import RestrictedManager, RestrictedQuerySet


class OrgUnit(TimeStampedModel):
    """A part of the bank: head office, a region, a branch, or any unit below them."""

    class Kind(models.TextChoices):
        HEAD_OFFICE = "head_office", _("Head office")
        REGION = "region", _("Region")
        BRANCH = "branch", _("Branch")
        DEPARTMENT = "department", _("Department")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    # Materialised path of primary keys ("/1/4/9/"): a subtree is one indexed prefix query,
    # portable to SQLite.
    path = models.CharField(max_length=512, db_index=True, editable=False, default="")
    is_active = models.BooleanField(_("active"), default=True)

    # A unit is scoped by its own path: a branch manager sees their unit and those below it.
    scope_unit_field = "self"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("organisation unit")
        verbose_name_plural = _("organisation units")
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def depth(self) -> int:
        return max(self.path.count("/") - 1, 0)


class Role(TimeStampedModel):
    """A job at the bank (relationship manager, auditor …) with its permissions and reach."""

    class Code(models.TextChoices):
        RELATIONSHIP_MANAGER = "relationship_manager", _("Relationship manager")
        BRANCH_MANAGER = "branch_manager", _("Branch manager")
        LOAN_OFFICER = "loan_officer", _("Loan officer")
        CREDIT_ANALYST = "credit_analyst", _("Credit analyst")
        MODEL_RISK_OFFICER = "model_risk_officer", _("Model risk officer")
        COMPLIANCE_OFFICER = "compliance_officer", _("Compliance officer")
        SERVICE_AGENT = "service_agent", _("Service agent")
        MARKETING_MANAGER = "marketing_manager", _("Marketing manager")
        AUDITOR = "auditor", _("Auditor")
        EXECUTIVE = "executive", _("Executive")
        ADMINISTRATOR = "administrator", _("Administrator")

    class DataScope(models.TextChoices):
        BANK = "bank", _("Whole bank")
        UNIT = "unit", _("Own unit and the units below it")
        PORTFOLIO = "portfolio", _("Own portfolio")

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    # Permission names ("customers.view_party", "audit.*", "*") granted by the role.
    permissions = models.JSONField(_("permissions"), default=list, blank=True)
    data_scope = models.CharField(
        _("data scope"), max_length=20, choices=DataScope.choices, default=DataScope.UNIT
    )
    may_unmask = models.BooleanField(_("may unmask personal data"), default=False)
    requires_mfa = models.BooleanField(_("requires two-factor authentication"), default=False)
    # Largest amount (in the bank's base currency) this role may approve alone; None: no
    # lending authority.
    approval_limit = models.DecimalField(
        _("approval limit"), max_digits=20, decimal_places=2, null=True, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)

    # Roles are bank-wide reference data: the permission alone decides who sees them.
    objects = RestrictedManager()

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["code"]

    def __str__(self) -> str:
        return str(self.name)


class BankUserManager(UserManager.from_queryset(RestrictedQuerySet)):  # type: ignore[misc]
    """Django's user manager with the actor-scoped ``restrict`` / ``visible_to``."""

    # Migrations never import application code; historical models use a plain manager.
    use_in_migrations = False


class User(AbstractUser):
    """A member of the bank's staff (or a service account) who signs in to bankcrm."""

    org_unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("organisation unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    roles = models.ManyToManyField(Role, verbose_name=_("roles"), blank=True, related_name="users")
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=[("en", "English"), ("zh-hans", "简体中文")],
    )
    timezone = models.CharField(_("time zone"), max_length=64, blank=True)
    is_service_account = models.BooleanField(_("service account"), default=False)

    # Sign-in protection.
    failed_login_count = models.PositiveIntegerField(default=0, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    must_change_password = models.BooleanField(_("must change password"), default=False)
    mfa_enabled = models.BooleanField(_("two-factor authentication on"), default=False)

    scope_unit_field = "org_unit"

    objects = BankUserManager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Portfolio(TimeStampedModel):
    """A book of customers looked after by one relationship manager."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    manager = models.ForeignKey(
        User,
        verbose_name=_("relationship manager"),
        on_delete=models.PROTECT,
        related_name="portfolios",
    )
    org_unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("organisation unit"),
        on_delete=models.PROTECT,
        related_name="portfolios",
    )
    is_active = models.BooleanField(_("active"), default=True)

    scope_unit_field = "org_unit"
    # A portfolio is scoped by its own manager: a relationship manager sees their books.
    scope_portfolio_field = "self"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("portfolio")
        verbose_name_plural = _("portfolios")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ApiToken(TimeStampedModel):
    """A credential a core-banking system or script uses to call the API as a user."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=120)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    # SHA-256 of the secret part; the secret itself is shown once and never stored.
    token_hash = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    scope_unit_field = "user__org_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="apitoken_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class MfaDevice(UUIDModel):
    """The authenticator app a user signs in with: its TOTP secret, encrypted at rest."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="mfa_device")
    secret = EncryptedTextField(_("secret"))
    # Set when the user proved the app works; until then the device is a pending enrolment.
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Last TOTP time step accepted: a code is never accepted twice (replay protection).
    last_timestep = models.BigIntegerField(null=True, blank=True, editable=False)

    scope_unit_field = "user__org_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("two-factor device")
        verbose_name_plural = _("two-factor devices")

    def __str__(self) -> str:
        return f"{self.user} ({_('two-factor device')})"
