"""Forms of the public pages (the contact form and the satisfaction survey) and of the
knowledge base and response template pages.

Every public field says in its error which field is wrong ("Enter your e-mail address …"):
the page also lists the errors on top, each linking to its field.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.web.forms import AccessibleForm, small_select, small_text, small_textarea

from .models import CaseType, KnowledgeArticle

PUBLIC_CASE_TYPES = ("inquiry", "service_request", "complaint")
# What every web form submission gives a case, in the names of CaseType.required_fields.
WEB_FORM_PROVIDES = frozenset({"contact_name", "contact_email", "description", "contact"})
PHONE_PATTERN = re.compile(r"^\+?[0-9][0-9 ()\-]{4,30}$")


def errors_to(form: forms.Form, exc: Exception, fields: dict[str, str] | None = None) -> None:
    """A service's refusal on the form: errors of the form's fields (``fields`` maps the
    service's names to the form's) on those fields, the others on top."""
    fields = fields or {}
    if isinstance(exc, PermissionDenied) or not isinstance(exc, ValidationError):
        form.add_error(None, str(exc) or _("You do not have permission to do this."))
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        target = fields.get(name, name)
        form.add_error(target if target in form.fields else None, errors)


def case_type_label(case_type: CaseType | None, language: str) -> str:
    """A case type's name in ``language`` ("" for none)."""
    if case_type is None:
        return ""
    if language.lower().startswith("zh") and case_type.name_zh:
        return case_type.name_zh
    return case_type.name


def case_type_code(obj: Any) -> str:
    """The code of an article's or a template's case type ("" for none)."""
    case_type = obj.case_type
    return case_type.code if case_type is not None else ""


class KnowledgeFormMixin:
    """Choices filled when the form is made (case types, languages)."""

    fields: dict[str, forms.Field]

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        if isinstance(field, forms.ChoiceField):
            field.choices = choices


# --- Public pages ----------------------------------------------------------------------------


def web_form_case_types() -> list[CaseType]:
    """The public case types the web form can open: active, and every required field of the
    type (an entry "a|b" needs one of them) is one the form always gives. A type needing an
    identified customer (``party``) or a linked account is left out: the customer cannot
    give those without signing in."""
    found = []
    for kind in CaseType.objects.filter(code__in=PUBLIC_CASE_TYPES, is_active=True).order_by(
        "sort_order", "code"
    ):
        entries = [
            entry for entry in (kind.required_fields or []) if isinstance(entry, str) and entry
        ]
        if all(
            any(name.strip() in WEB_FORM_PROVIDES for name in entry.split("|")) for entry in entries
        ):
            found.append(kind)
    return found


def _public_text(**attrs: str) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "form-control", **attrs})


class ContactForm(KnowledgeFormMixin, AccessibleForm):
    """The public web form: who writes, how to reach them, what it is about."""

    name = forms.CharField(
        label=gettext_lazy("Your name"),
        max_length=200,
        error_messages={
            "required": gettext_lazy("Enter your name."),
            "max_length": gettext_lazy("Your name is longer than 200 characters."),
        },
        widget=_public_text(autocomplete="name"),
    )
    email = forms.EmailField(
        label=gettext_lazy("E-mail address"),
        max_length=254,
        help_text=gettext_lazy("We send the confirmation and our answer to this address."),
        error_messages={
            "required": gettext_lazy("Enter your e-mail address so that we can answer you."),
            "invalid": gettext_lazy("Enter a valid e-mail address, such as name@example.com."),
        },
        widget=forms.EmailInput(
            attrs={"class": "form-control", "autocomplete": "email", "inputmode": "email"}
        ),
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone number (optional)"),
        required=False,
        max_length=32,
        widget=forms.TextInput(
            attrs={"class": "form-control", "autocomplete": "tel", "inputmode": "tel"}
        ),
    )
    case_type = forms.ChoiceField(
        label=gettext_lazy("What is it about?"),
        error_messages={
            "required": gettext_lazy("Choose what your message is about."),
            "invalid_choice": gettext_lazy("Choose what your message is about from the list."),
        },
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    subject = forms.CharField(
        label=gettext_lazy("Subject"),
        max_length=300,
        error_messages={
            "required": gettext_lazy("Enter a subject: a few words about your message."),
            "max_length": gettext_lazy("The subject is longer than 300 characters."),
        },
        widget=_public_text(),
    )
    message = forms.CharField(
        label=gettext_lazy("Your message"),
        max_length=5000,
        help_text=gettext_lazy(
            "Never write your password, PIN, verification code or full card number."
        ),
        error_messages={
            "required": gettext_lazy("Write your message."),
            "max_length": gettext_lazy("Your message is longer than 5,000 characters."),
        },
        widget=forms.Textarea(attrs={"class": "form-control", "rows": "6"}),
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language for our answer"),
        choices=[],
        error_messages={
            "required": gettext_lazy("Choose the language of our answer."),
            "invalid_choice": gettext_lazy("Choose the language of our answer from the list."),
        },
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    # Hidden from people (and from screen readers); robots fill every field they find.
    website = forms.CharField(
        label=gettext_lazy("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def __init__(self, *args: Any, language: str = "en", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices(
            "case_type",
            [
                ("", _("Choose …")),
                *((kind.code, case_type_label(kind, language)) for kind in web_form_case_types()),
            ],
        )
        self._choices("language", [(code, str(name)) for code, name in settings.LANGUAGES])

    def clean_name(self) -> str:
        return " ".join(self.cleaned_data["name"].split())

    def clean_subject(self) -> str:
        value = " ".join(self.cleaned_data["subject"].split())
        if not value:
            raise ValidationError(_("Enter a subject: a few words about your message."))
        return value

    def clean_message(self) -> str:
        value = self.cleaned_data["message"].replace("\r\n", "\n").strip()
        if not value:
            raise ValidationError(_("Write your message."))
        return value

    def clean_phone(self) -> str:
        value = " ".join(self.cleaned_data["phone"].split())
        if value and not PHONE_PATTERN.fullmatch(value):
            raise ValidationError(
                _(
                    "Enter the phone number with digits only, "
                    "e.g. 138 0013 8000 or +86 21 1234 5678."
                )
            )
        return value


class SurveyForm(AccessibleForm):
    """The one-page survey: satisfaction 1–5, likelihood to recommend 0–10, a comment."""

    csat = forms.TypedChoiceField(
        label=gettext_lazy("How satisfied are you with how we handled your request?"),
        coerce=int,
        choices=[
            (1, gettext_lazy("1 – very dissatisfied")),
            (2, gettext_lazy("2 – dissatisfied")),
            (3, gettext_lazy("3 – neutral")),
            (4, gettext_lazy("4 – satisfied")),
            (5, gettext_lazy("5 – very satisfied")),
        ],
        error_messages={
            "required": gettext_lazy("Choose how satisfied you are, from 1 to 5."),
            "invalid_choice": gettext_lazy("Choose how satisfied you are, from 1 to 5."),
        },
        widget=forms.RadioSelect,
    )
    nps = forms.TypedChoiceField(
        label=gettext_lazy(
            "How likely are you to recommend us to a friend or colleague? (optional)"
        ),
        help_text=gettext_lazy("0 means not at all likely, 10 extremely likely."),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(number, str(number)) for number in range(11)],
        error_messages={
            "invalid_choice": gettext_lazy("Choose a number from 0 to 10, or leave it empty.")
        },
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=gettext_lazy("Anything you would like to tell us? (optional)"),
        required=False,
        max_length=4000,
        error_messages={
            "max_length": gettext_lazy("Please keep the comment under 4,000 characters.")
        },
        widget=forms.Textarea(attrs={"class": "form-control", "rows": "4"}),
    )


# --- Knowledge base and templates (staff pages) ---------------------------------------------


class KnowledgeSearchForm(AccessibleForm):
    """The knowledge base list's search and filters."""

    q = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm", "type": "search"}),
    )
    tag = forms.CharField(
        label=gettext_lazy("Tag"), required=False, max_length=50, widget=small_text()
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        required=False,
        choices=[("", gettext_lazy("Any")), ("en", "English"), ("zh-hans", "中文")],
        widget=small_select(),
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[
            ("", gettext_lazy("Published")),
            ("all", gettext_lazy("Any status")),
            *KnowledgeArticle.Status.choices,
        ],
        widget=small_select(),
    )


def _case_type_choices(language: str) -> list[tuple[str, str]]:
    return [
        ("", _("Any case type")),
        *(
            (kind.code, case_type_label(kind, language))
            for kind in CaseType.objects.filter(is_active=True).order_by("sort_order", "code")
        ),
    ]


class ArticleForm(KnowledgeFormMixin, AccessibleForm):
    """A knowledge article in English, Chinese or both."""

    slug = forms.CharField(
        label=gettext_lazy("Short name"),
        max_length=100,
        help_text=gettext_lazy("Letters, digits, - and _; used in the article's address."),
        error_messages={"required": gettext_lazy("Give the article a short name.")},
        widget=small_text(),
    )
    title_en = forms.CharField(
        label=gettext_lazy("Title (English)"), required=False, max_length=300, widget=small_text()
    )
    body_en = forms.CharField(
        label=gettext_lazy("Text (English)"), required=False, widget=small_textarea(rows=10)
    )
    title_zh = forms.CharField(
        label=gettext_lazy("Title (Chinese)"),
        required=False,
        max_length=300,
        widget=small_text(lang="zh-Hans"),
    )
    body_zh = forms.CharField(
        label=gettext_lazy("Text (Chinese)"),
        required=False,
        widget=small_textarea(rows=10, lang="zh-Hans"),
    )
    tags = forms.CharField(
        label=gettext_lazy("Tags"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy("Separated by commas, e.g. card, lost card, 挂失."),
        widget=small_text(),
    )
    case_type = forms.ChoiceField(
        label=gettext_lazy("Case type"), required=False, widget=small_select()
    )

    def __init__(self, *args: Any, language: str = "en", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("case_type", _case_type_choices(language))

    @classmethod
    def initial_of(cls, article: KnowledgeArticle) -> dict[str, Any]:
        return {
            "slug": article.slug,
            "title_en": article.title_en,
            "body_en": article.body_en,
            "title_zh": article.title_zh,
            "body_zh": article.body_zh,
            "tags": ", ".join(article.tags or []),
            "case_type": case_type_code(article),
        }


class ArchiveForm(AccessibleForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason (optional)"),
        required=False,
        max_length=500,
        widget=small_text(),
    )


class TemplateForm(KnowledgeFormMixin, AccessibleForm):
    """A response template in English and Chinese with placeholders."""

    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=64,
        help_text=gettext_lazy("Lower-case letters, digits and _; cannot be changed later."),
        error_messages={"required": gettext_lazy("Give the template a code.")},
        widget=small_text(),
    )
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=200,
        error_messages={"required": gettext_lazy("Give the template a name.")},
        widget=small_text(),
    )
    case_type = forms.ChoiceField(
        label=gettext_lazy("Case type"), required=False, widget=small_select()
    )
    subject_en = forms.CharField(
        label=gettext_lazy("Subject (English)"), required=False, max_length=300, widget=small_text()
    )
    body_en = forms.CharField(
        label=gettext_lazy("Text (English)"),
        error_messages={"required": gettext_lazy("Write the English text.")},
        widget=small_textarea(rows=10),
    )
    subject_zh = forms.CharField(
        label=gettext_lazy("Subject (Chinese)"),
        required=False,
        max_length=300,
        widget=small_text(lang="zh-Hans"),
    )
    body_zh = forms.CharField(
        label=gettext_lazy("Text (Chinese)"),
        error_messages={"required": gettext_lazy("Write the Chinese text.")},
        widget=small_textarea(rows=10, lang="zh-Hans"),
    )
    is_active = forms.BooleanField(
        label=gettext_lazy("Active (agents can use it)"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )

    def __init__(self, *args: Any, language: str = "en", editing: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._choices("case_type", _case_type_choices(language))
        if editing:
            # The code names the template for system e-mails: shown, never changed.
            del self.fields["code"]
