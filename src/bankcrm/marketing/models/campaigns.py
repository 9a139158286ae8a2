"""Campaigns: an offer sent to a segment through chosen channels, its variants, the audience
drawn at launch (treatment, control and suppressed customers) and each message sent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.models import TimeStampedModel
from bankcrm.core.money import AmountField, CurrencyField

from .offers import ProductOffer
from .segments import Segment


class Channel(models.TextChoices):
    """How a campaign reaches its customers."""

    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    CALL = "call", _("Relationship manager call list")
    BANNER = "banner", _("Customer 360 banner (in branch)")


class Campaign(TimeStampedModel):
    """A marketing campaign: objective, offer, target segment, channels, schedule, control
    group, costs and the event that counts as success."""

    class Objective(models.TextChoices):
        ACQUISITION = "acquisition", _("Acquire new customers")
        CROSS_SELL = "cross_sell", _("Cross-sell a product")
        RETENTION = "retention", _("Retain customers")
        ACTIVATION = "activation", _("Activate dormant customers")
        AWARENESS = "awareness", _("Awareness")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PENDING_APPROVAL = "pending_approval", _("Awaiting approval")
        SCHEDULED = "scheduled", _("Approved, scheduled")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    class SuccessEvent(models.TextChoices):
        PRODUCT_OPENED = "product_opened", _("An account of the offered product opened")
        CATEGORY_OPENED = "category_opened", _("An account of the product's category opened")
        NONE = "none", _("No conversion measured")

    name = models.CharField(_("name"), max_length=200)
    objective = models.CharField(_("objective"), max_length=20, choices=Objective.choices)
    description = models.TextField(_("description"), blank=True)
    offer = models.ForeignKey(
        ProductOffer,
        verbose_name=_("offer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("target segment"),
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    # A list of Channel values; each reaches every treatment customer it may (consent).
    channels = models.JSONField(_("channels"), default=list)
    owning_unit = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("owning unit"),
        on_delete=models.PROTECT,
        related_name="marketing_campaigns",
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    # Share of the audience kept back as the control group, in per cent (0-50).
    holdout_percent = models.DecimalField(
        _("control group (%)"), max_digits=5, decimal_places=2, default=10
    )
    # The seed of the control group's draw, recorded so the draw can be repeated exactly.
    holdout_seed = models.BigIntegerField(_("control group seed"))
    # Messages per minute the sender may hand to a channel (0: no limit).
    throttle_per_minute = models.PositiveIntegerField(_("messages per minute"), default=600)
    success_event = models.CharField(
        _("success event"),
        max_length=20,
        choices=SuccessEvent.choices,
        default=SuccessEvent.PRODUCT_OPENED,
    )
    # Days after the launch (or the message) within which the success event counts.
    conversion_days = models.PositiveIntegerField(_("conversion window (days)"), default=30)
    currency = CurrencyField(_("currency"), default="CNY")
    cost_fixed = AmountField(_("fixed cost"), default=0)
    # What one message costs, by channel: {"email": "0.01", "sms": "0.05", "call": "5"}.
    cost_per_message = models.JSONField(_("cost per message"), default=dict, blank=True)
    # What one conversion is worth (the offer's value unless set).
    value_per_conversion = AmountField(_("value of one conversion"), null=True, blank=True)
    # Where the e-mail's call to action leads (wrapped in a signed tracking link).
    landing_url = models.URLField(_("landing page"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approval = models.ForeignKey(
        "core.PendingApproval",
        verbose_name=_("approval request"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    # Set when the audience was drawn (treatment, control, suppressed) and messages queued.
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    # Counts kept by the launch and the sender: {"treatment": n, "control": n, ...}.
    stats = models.JSONField(_("figures"), default=dict, blank=True)

    scope_unit_field = "owning_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-starts_at", "-pk"]
        permissions = [
            ("approve_campaign", _("Can approve campaigns for launch")),
            ("launch_campaign", _("Can launch, pause and resume campaigns")),
        ]
        indexes = [models.Index(fields=["status", "starts_at"], name="campaign_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__gte=0) & Q(holdout_percent__lte=50),
                name="campaign_holdout_range",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "draft",
                        "pending_approval",
                        "scheduled",
                        "running",
                        "paused",
                        "completed",
                        "cancelled",
                    ]
                ),
                name="campaign_status_known",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignVariant(TimeStampedModel):
    """One version of a campaign's content (A/B test): subject, HTML and text bodies in both
    languages, the SMS text, the call script and the banner, with its share of the audience."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="variants"
    )
    code = models.CharField(_("variant"), max_length=8)
    # Relative share of the treatment group (weights 1 and 1: half each).
    weight = models.PositiveIntegerField(_("weight"), default=1)
    subject_en = models.CharField(_("subject (English)"), max_length=200, blank=True)
    subject_zh = models.CharField(_("subject (Chinese)"), max_length=200, blank=True)
    html_en = models.TextField(_("HTML body (English)"), blank=True)
    html_zh = models.TextField(_("HTML body (Chinese)"), blank=True)
    text_en = models.TextField(_("text body (English)"), blank=True)
    text_zh = models.TextField(_("text body (Chinese)"), blank=True)
    sms_en = models.CharField(_("SMS (English)"), max_length=480, blank=True)
    sms_zh = models.CharField(_("SMS (Chinese)"), max_length=480, blank=True)
    call_script = models.TextField(_("call script"), blank=True)
    banner_en = models.CharField(_("banner (English)"), max_length=300, blank=True)
    banner_zh = models.CharField(_("banner (Chinese)"), max_length=300, blank=True)

    scope_unit_field = "campaign__owning_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("campaign variant")
        verbose_name_plural = _("campaign variants")
        ordering = ["campaign", "code"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "code"], name="campaignvariant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.code}"


class CampaignTarget(models.Model):
    """A customer of a campaign's audience as drawn at launch: in the treatment group (with
    their variant), in the control group, or suppressed (and why); and whether they converted."""

    class Group(models.TextChoices):
        TREATMENT = "treatment", _("Treatment")
        CONTROL = "control", _("Control (held out)")
        SUPPRESSED = "suppressed", _("Suppressed")

    class Suppression(models.TextChoices):
        NO_CONSENT = "no_consent", _("No consent for any channel")
        DO_NOT_CONTACT = "do_not_contact", _("Do not contact")
        OPEN_COMPLAINT = "open_complaint", _("Open complaint")
        SANCTIONS_HIT = "sanctions_hit", _("Sanctions screening hit")
        DECEASED = "deceased", _("Deceased")
        HOLDS_PRODUCT = "holds_product", _("Already holds the product")
        FREQUENCY_CAP = "frequency_cap", _("Contact limit reached")
        INACTIVE = "inactive", _("Customer closed")

    # Written only by the launch's INSERT … SELECT from rows it reads in the same transaction:
    # no database foreign keys (a million per-row checks and row locks at commit); deletions
    # still follow ``on_delete`` (docs/adr/0013-campaign-audience-tables.md).
    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="targets",
        db_constraint=False,
        # The unique (campaign, party) index serves it.
        db_index=False,
    )
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="campaign_targets",
        db_constraint=False,
        # campaigntarget_party_idx serves it.
        db_index=False,
    )
    group = models.CharField(_("group"), max_length=10, choices=Group.choices)
    variant = models.ForeignKey(
        CampaignVariant,
        verbose_name=_("variant"),
        null=True,
        blank=True,
        # Variants are removed only from drafts, which have no targets: nothing to protect,
        # and no lookup by variant that needs an index.
        on_delete=models.DO_NOTHING,
        related_name="targets",
        db_constraint=False,
        db_index=False,
    )
    suppression = models.CharField(
        _("suppressed because"), max_length=20, choices=Suppression.choices, blank=True
    )
    # The customer's position in the seeded draw, in [0, 1): below the holdout share is control.
    draw = models.FloatField(_("draw"))
    # The language the customer is written to in ("en" or "zh-hans").
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    # The record that showed the conversion (an account's key).
    conversion_ref = models.CharField(_("conversion"), max_length=64, blank=True)

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("campaign target")
        verbose_name_plural = _("campaign targets")
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "party"], name="campaigntarget_unique"),
            models.CheckConstraint(
                condition=Q(group__in=["treatment", "control", "suppressed"]),
                name="campaigntarget_group_known",
            ),
            models.CheckConstraint(
                condition=~Q(group="suppressed") | ~Q(suppression=""),
                name="campaigntarget_suppression_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "group", "variant"], name="campaigntarget_group_idx"),
            models.Index(fields=["party"], name="campaigntarget_party_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.party_id} {self.group}"


class CampaignMessage(models.Model):
    """One message of a campaign to one customer through one channel, and how far it got:
    queued, sent, delivered, opened, clicked, or bounced, failed, unsubscribed, suppressed."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        OPENED = "opened", pgettext_lazy("message", "Opened")
        CLICKED = "clicked", _("Clicked")
        BOUNCED = "bounced", _("Bounced")
        FAILED = "failed", _("Failed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        # Not sent: consent, do-not-contact or the contact limit stopped it at send time.
        SUPPRESSED = "suppressed", _("Suppressed at send time")

    # Like the targets, written only by the launch's INSERT … SELECT: no database foreign
    # keys on the columns it fills (docs/adr/0013-campaign-audience-tables.md).
    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="messages",
        db_constraint=False,
        # The unique (campaign, party, channel) index serves it.
        db_index=False,
    )
    target = models.ForeignKey(
        CampaignTarget,
        verbose_name=_("target"),
        on_delete=models.CASCADE,
        related_name="messages",
        db_constraint=False,
        # Read through the campaign; launched campaigns and their targets are kept, never
        # deleted, so no lookup by target needs an index.
        db_index=False,
    )
    # The target's customer, kept on the message: the contact limit counts by customer.
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="campaign_messages",
        db_constraint=False,
        # campaignmessage_party_sent_idx serves it.
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    variant = models.ForeignKey(
        CampaignVariant,
        verbose_name=_("variant"),
        null=True,
        blank=True,
        # As on the target: variants leave drafts only, which have no messages.
        on_delete=models.DO_NOTHING,
        related_name="messages",
        db_constraint=False,
        db_index=False,
    )
    # The e-mail address or phone the message goes to (chosen at send time if empty).
    contact_point = models.ForeignKey(
        "customers.ContactPoint",
        verbose_name=_("contact point"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    # Why it was not sent, or the last delivery error.
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    queued_at = models.DateTimeField(_("queued at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked at"), null=True, blank=True)
    bounced_at = models.DateTimeField(_("bounced at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    # The provider's id of the message (SMTP Message-ID, SMS gateway id): delivery reports
    # name it.
    provider_ref = models.CharField(_("provider reference"), max_length=200, blank=True)
    # The staff task a call-list message became.
    task = models.ForeignKey(
        "customers.Task",
        verbose_name=_("task"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # Few messages have one: campaignmessage_task_idx is partial.
        db_index=False,
    )

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("campaign message")
        verbose_name_plural = _("campaign messages")
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "party", "channel"], name="campaignmessage_unique"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "queued",
                        "sent",
                        "delivered",
                        "opened",
                        "clicked",
                        "bounced",
                        "failed",
                        "unsubscribed",
                        "suppressed",
                    ]
                ),
                name="campaignmessage_status_known",
            ),
        ]
        indexes = [
            # The sender claims the next queued messages of a campaign in id order.
            models.Index(
                fields=["campaign", "id"],
                condition=Q(status="queued"),
                name="campaignmessage_queued_idx",
            ),
            # The contact limit (a customer's messages sent in the last period) and a
            # customer's messages.
            models.Index(fields=["party", "sent_at"], name="campaignmessage_party_sent_idx"),
            # Delivery reports name the provider's reference, which queued messages lack.
            models.Index(
                fields=["provider_ref"],
                condition=~Q(provider_ref=""),
                name="campaignmessage_provider_idx",
            ),
            models.Index(
                fields=["task"],
                condition=Q(task__isnull=False),
                name="campaignmessage_task_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.party_id} {self.channel} {self.status}"
