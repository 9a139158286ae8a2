"""Forms of the customer service pages: the workspace and case list filters, opening a case,
the case page's quick actions (workflow steps, assignment, priority, links, merge, the
customer, notes and replies), the availability switch and the queue administration.

Forms only parse what people type; the services check the rules (who may do what, what a
state allows, which records belong to the customer) and their refusals are put back on the
fields they name (:func:`errors_to`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from bankcrm.web.forms import (
    AccessibleForm,
    small_date,
    small_select,
    small_text,
    small_textarea,
)

from .models import Queue
from .models.setup import Channel, Priority

MAX_REASON_LENGTH = 4000
MAX_MESSAGE_LENGTH = 20000
LANGUAGE_CHOICES = [("zh-hans", "简体中文"), ("en", "English")]


def errors_to(form: forms.Form, exc: Exception, aliases: dict[str, str] | None = None) -> None:
    """A service's refusal on the form: each error on the field it names (``aliases`` maps a
    service's field name to the form's), the others on top of the form, naming their field."""
    if not isinstance(exc, ValidationError):
        form.add_error(None, str(exc) or _("You do not have permission to do this."))
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    aliases = aliases or {}
    for name, errors in exc.error_dict.items():
        field = aliases.get(name, name)
        if field in form.fields:
            form.add_error(field, errors)
        elif name == NON_FIELD_ERRORS:
            form.add_error(None, errors)
        else:
            for error in errors:
                for message in error.messages:
                    form.add_error(None, f"{name}: {message}")


class SupportForm(AccessibleForm):
    """A form of these pages (see :class:`~bankcrm.web.forms.AccessibleForm`)."""


def _blank(label: Any) -> list[tuple[str, Any]]:
    return [("", label)]


# --- Lists -----------------------------------------------------------------------------------


class WorkspaceFilterForm(SupportForm):
    """Which open cases the workspace shows."""

    queue = forms.ChoiceField(label=_("Queue"), required=False, widget=small_select())
    state = forms.ChoiceField(label=_("State"), required=False, widget=small_select())
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[*_blank(_("Any priority")), *Priority.choices],
        widget=small_select(),
    )
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[*_blank(_("Any channel")), *Channel.choices],
        widget=small_select(),
    )

    def __init__(
        self,
        *args: Any,
        queues: list[tuple[str, str]] = (),  # type: ignore[assignment]
        states: list[tuple[str, str]] = (),  # type: ignore[assignment]
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [*_blank(_("All my queues")), *queues]  # type: ignore[attr-defined]
        self.fields["state"].choices = [*_blank(_("Any open state")), *states]  # type: ignore[attr-defined]


class CaseFilterForm(SupportForm):
    """Which cases the case list shows, and the search box."""

    q = forms.CharField(
        label=_("Reference, subject, customer or e-mail"),
        required=False,
        max_length=200,
        widget=small_text(type="search", autocomplete="off"),
    )
    status = forms.ChoiceField(
        label=_("Open or closed"),
        required=False,
        choices=[("", _("Open")), ("closed", _("Resolved or closed")), ("all", _("Any"))],
        widget=small_select(),
    )
    queue = forms.ChoiceField(label=_("Queue"), required=False, widget=small_select())
    state = forms.ChoiceField(label=_("State"), required=False, widget=small_select())
    assigned = forms.ChoiceField(
        label=_("Assigned to"),
        required=False,
        choices=[("", _("Anyone")), ("me", _("Me")), ("none", _("Nobody"))],
        widget=small_select(),
    )
    case_type = forms.ChoiceField(label=_("Type"), required=False, widget=small_select())
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[*_blank(_("Any channel")), *Channel.choices],
        widget=small_select(),
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[*_blank(_("Any priority")), *Priority.choices],
        widget=small_select(),
    )
    breached = forms.BooleanField(
        label=_("SLA breached"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    received_from = forms.DateField(label=_("Received from"), required=False, widget=small_date())
    received_to = forms.DateField(label=_("Received until"), required=False, widget=small_date())
    customer = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        queues: list[tuple[str, str]] = (),  # type: ignore[assignment]
        states: list[tuple[str, str]] = (),  # type: ignore[assignment]
        case_types: list[tuple[str, str]] = (),  # type: ignore[assignment]
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [*_blank(_("Any queue")), *queues]  # type: ignore[attr-defined]
        self.fields["state"].choices = [*_blank(_("Any state")), *states]  # type: ignore[attr-defined]
        self.fields["case_type"].choices = [*_blank(_("Any type")), *case_types]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("received_from"), data.get("received_to")
        if start and end and end < start:
            self.add_error("received_to", _("The end of the period is before its start."))
        return data


# --- Opening a case --------------------------------------------------------------------------


class CaseCreateForm(SupportForm):
    """A case an agent opens for a caller or a visitor at the branch."""

    party = forms.UUIDField(
        label=_("Customer"),
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid": _("Search for the customer and choose one.")},
    )
    case_type = forms.ChoiceField(label=_("Type"), widget=small_select())
    channel = forms.ChoiceField(
        label=_("Channel"),
        initial=Channel.PHONE,
        choices=Channel.choices,
        widget=small_select(),
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[*_blank(_("The type's default")), *Priority.choices],
        widget=small_select(),
    )
    queue = forms.ChoiceField(label=_("Queue"), required=False, widget=small_select())
    subject = forms.CharField(label=_("Subject"), max_length=300, widget=small_text())
    description = forms.CharField(
        label=_("What the customer asks or reports"),
        required=False,
        max_length=MAX_MESSAGE_LENGTH,
        widget=small_textarea(rows=4),
    )
    contact_name = forms.CharField(
        label=_("Contact name"), required=False, max_length=200, widget=small_text()
    )
    contact_email = forms.EmailField(
        label=_("Contact e-mail"), required=False, max_length=254, widget=small_text(type="email")
    )
    contact_phone = forms.CharField(
        label=_("Contact phone"), required=False, max_length=40, widget=small_text(type="tel")
    )
    language = forms.ChoiceField(
        label=_("Language for replies"),
        initial="zh-hans",
        choices=LANGUAGE_CHOICES,
        widget=small_select(),
    )
    # Complaints only: the regulator's classification.
    complaint_category = forms.ChoiceField(
        label=_("Regulatory category"), required=False, widget=small_select()
    )
    complaint_product = forms.ChoiceField(
        label=_("Product or service"), required=False, widget=small_select()
    )
    complaint_received_on = forms.DateField(
        label=_("Complaint received on"), required=False, widget=small_date()
    )

    def __init__(
        self,
        *args: Any,
        case_types: list[tuple[str, str]] = (),  # type: ignore[assignment]
        queues: list[tuple[str, str]] = (),  # type: ignore[assignment]
        categories: list[tuple[str, str]] = (),  # type: ignore[assignment]
        products: list[tuple[str, str]] = (),  # type: ignore[assignment]
        complaint_types: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.complaint_types = complaint_types
        self.fields["case_type"].choices = [*_blank("—"), *case_types]  # type: ignore[attr-defined]
        self.fields["queue"].choices = [*_blank(_("The type's queue")), *queues]  # type: ignore[attr-defined]
        self.fields["complaint_category"].choices = [*_blank("—"), *categories]  # type: ignore[attr-defined]
        self.fields["complaint_product"].choices = [*_blank("—"), *products]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("case_type") in self.complaint_types:
            for name in ("complaint_category", "complaint_product"):
                if not data.get(name):
                    self.add_error(name, _("A complaint needs this for the regulator's returns."))
        return data

    def complaint(self) -> dict[str, Any] | None:
        """The complaint's facts for ``case_create`` (None unless the type is a complaint)."""
        data = self.cleaned_data
        if data.get("case_type") not in self.complaint_types:
            return None
        complaint: dict[str, Any] = {
            "category": data["complaint_category"],
            "product": data["complaint_product"],
        }
        if data.get("complaint_received_on"):
            complaint["received_on"] = data["complaint_received_on"]
        return complaint


class CustomerChoiceForm(SupportForm):
    """The customer chosen from the search results (linking a case to its customer)."""

    party = forms.UUIDField(
        label=_("Customer"),
        error_messages={
            "required": _("Search for the customer and choose one."),
            "invalid": _("Search for the customer and choose one."),
        },
    )


# --- The case page's quick actions -----------------------------------------------------------


class ConfirmForm(SupportForm):
    """A button that asks for nothing more (take the case, remove a link)."""


class TransitionForm(SupportForm):
    """A workflow step of the case, with its reason when the step asks for one."""

    transition = forms.CharField(max_length=64, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=MAX_REASON_LENGTH,
        widget=small_textarea(rows=2),
    )


class AssignForm(SupportForm):
    """Who works on the case (empty: nobody, back to the queue)."""

    assignee = forms.ChoiceField(label=_("Assign to"), required=False, widget=small_select())

    def __init__(self, *args: Any, agents: list[tuple[str, str]] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [*_blank(_("Nobody (back to the queue)")), *agents]  # type: ignore[attr-defined]


class CaseUpdateForm(SupportForm):
    """The case's subject, priority and queue."""

    subject = forms.CharField(label=_("Subject"), max_length=300, widget=small_text())
    priority = forms.TypedChoiceField(
        label=_("Priority"), coerce=int, choices=Priority.choices, widget=small_select()
    )
    queue = forms.ChoiceField(label=_("Queue"), widget=small_select())

    def __init__(self, *args: Any, queues: list[tuple[str, str]] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = list(queues)  # type: ignore[attr-defined]


class LinkForm(SupportForm):
    """An account, loan, loan application or transaction of the case's customer."""

    record = forms.ChoiceField(label=_("Record of this customer"), widget=small_select())

    def __init__(
        self,
        *args: Any,
        records: list[tuple[Any, list[tuple[str, str]]]] = (),  # type: ignore[assignment]
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["record"].choices = [*_blank("—"), *records]  # type: ignore[attr-defined]

    def clean_record(self) -> tuple[str, str]:
        kind, _sep, pk = str(self.cleaned_data["record"]).partition(":")
        if not kind or not pk:
            raise ValidationError(_("Choose a record."), code="invalid")
        return kind, pk


class MergeForm(SupportForm):
    """Merge this case, a duplicate, into another one."""

    into = forms.RegexField(
        label=_("Merge into case (reference)"),
        regex=r"^\s*[Ss][Cc]-\d{4}-\d{6}\s*$",
        max_length=24,
        error_messages={"invalid": _("Give a case reference such as SC-2026-000123.")},
        widget=small_text(placeholder="SC-2026-000123", autocomplete="off"),
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=MAX_REASON_LENGTH, widget=small_textarea(rows=2)
    )

    def clean_into(self) -> str:
        return str(self.cleaned_data["into"]).strip().upper()


class NoteForm(SupportForm):
    """An internal note (customers never see notes)."""

    text = forms.CharField(
        label=_("Internal note"), max_length=MAX_MESSAGE_LENGTH, widget=small_textarea(rows=3)
    )


class ReplyForm(SupportForm):
    """A reply to the customer: e-mailed when the case has an address, else recorded (a
    phone call's or a branch visit's answer)."""

    subject = forms.CharField(
        label=_("Subject"), required=False, max_length=300, widget=small_text()
    )
    body = forms.CharField(
        label=_("Reply to the customer"),
        max_length=MAX_MESSAGE_LENGTH,
        widget=small_textarea(rows=6),
    )
    template_code = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The knowledge base picker writes into these boxes by their ids.
        self.fields["body"].widget.attrs["id"] = "reply-body"
        self.fields["subject"].widget.attrs["id"] = "reply-subject"


class AvailabilityForm(SupportForm):
    """An agent marks themself available for new cases, or away."""

    is_available = forms.TypedChoiceField(
        label=_("Availability"),
        coerce=lambda value: value == "1",
        choices=[("1", _("Available")), ("0", _("Away"))],
        widget=small_select(),
    )
    queue = forms.IntegerField(required=False, widget=forms.HiddenInput)


# --- Queue administration --------------------------------------------------------------------


class QueueForm(SupportForm):
    """A queue's settings."""

    code = forms.RegexField(
        label=_("Code"),
        regex=r"^[a-z0-9_]+$",
        max_length=32,
        error_messages={"invalid": _("Lower-case letters, digits and underscores only.")},
        widget=small_text(autocomplete="off"),
    )
    name = forms.CharField(label=_("Name"), max_length=200, widget=small_text())
    name_zh = forms.CharField(
        label=_("Name (Chinese)"), required=False, max_length=200, widget=small_text()
    )
    org_unit = forms.TypedChoiceField(
        label=_("Org unit"), coerce=int, empty_value=None, widget=small_select()
    )
    supervisor = forms.TypedChoiceField(
        label=_("Supervisor"), required=False, coerce=int, empty_value=None, widget=small_select()
    )
    calendar = forms.TypedChoiceField(
        label=_("Business calendar"),
        required=False,
        coerce=int,
        empty_value=None,
        widget=small_select(),
    )
    assignment = forms.ChoiceField(
        label=_("Assignment"), choices=Queue.Assignment.choices, widget=small_select()
    )
    rm_segments = forms.MultipleChoiceField(
        label=_("Segments served by their relationship manager"),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    email_address = forms.EmailField(
        label=_("E-mail address"),
        required=False,
        help_text=_("Inbound e-mail to this address lands in this queue."),
        widget=small_text(type="email"),
    )
    is_active = forms.BooleanField(
        label=_("Active"),
        required=False,
        initial=True,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )

    def __init__(
        self,
        *args: Any,
        units: list[tuple[int, str]] = (),  # type: ignore[assignment]
        supervisors: list[tuple[int, str]] = (),  # type: ignore[assignment]
        calendars: list[tuple[int, str]] = (),  # type: ignore[assignment]
        segments: list[tuple[str, str]] = (),  # type: ignore[assignment]
        is_new: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].choices = [*_blank("—"), *units]  # type: ignore[attr-defined]
        self.fields["supervisor"].choices = [*_blank(_("Nobody")), *supervisors]  # type: ignore[attr-defined]
        self.fields["calendar"].choices = [*_blank(_("The bank's default calendar")), *calendars]  # type: ignore[attr-defined]
        self.fields["rm_segments"].choices = list(segments)  # type: ignore[attr-defined]
        if not is_new:
            # A queue's code names it in settings, e-mail routing and reports: it stays.
            del self.fields["code"]


class QueueMemberForm(SupportForm):
    """An agent of the queue: skills, languages, availability and the cap on open cases."""

    user = forms.TypedChoiceField(label=_("Agent"), coerce=int, widget=small_select())
    skills = forms.MultipleChoiceField(
        label=_("Case types handled (none: every type)"),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    languages = forms.MultipleChoiceField(
        label=_("Languages (none: any)"),
        required=False,
        choices=LANGUAGE_CHOICES,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    is_available = forms.BooleanField(
        label=_("Available"),
        required=False,
        initial=True,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    max_open_cases = forms.IntegerField(
        label=_("Most open cases (0: no cap)"),
        min_value=0,
        max_value=10000,
        initial=0,
        widget=small_text(type="number", inputmode="numeric"),
    )

    def __init__(
        self,
        *args: Any,
        users: list[tuple[int, str]] = (),  # type: ignore[assignment]
        skills: list[tuple[str, str]] = (),  # type: ignore[assignment]
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [*_blank("—"), *users]  # type: ignore[attr-defined]
        self.fields["skills"].choices = list(skills)  # type: ignore[attr-defined]
