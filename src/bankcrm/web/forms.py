"""What the pages' forms share: compact Bootstrap widgets, and a form that marks its fields
with errors for Bootstrap and screen readers."""

from __future__ import annotations

from typing import Any

from django import forms


def small_select(**attrs: str) -> forms.Select:
    return forms.Select(attrs={"class": "form-select form-select-sm", **attrs})


def small_text(**attrs: str) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "form-control form-control-sm", **attrs})


def small_date(**attrs: str) -> forms.DateInput:
    return forms.DateInput(
        attrs={"class": "form-control form-control-sm", "type": "date", **attrs},
        format="%Y-%m-%d",
    )


def small_textarea(rows: int = 3, **attrs: str) -> forms.Textarea:
    return forms.Textarea(
        attrs={"class": "form-control form-control-sm", "rows": str(rows), **attrs}
    )


class AccessibleForm(forms.Form):
    """Fields with an error are marked for screen readers and Bootstrap. Several of these
    forms may share a page, so each form's ids carry its own prefix (``auto_id``)."""

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        for name in getattr(self, "_errors", None) or {}:
            if name not in self.fields:
                continue
            attrs = self.fields[name].widget.attrs
            classes = attrs.get("class", "").split()
            if "is-invalid" not in classes:
                attrs["class"] = " ".join([*classes, "is-invalid"])
            attrs["aria-invalid"] = "true"
            attrs["aria-describedby"] = f"{self[name].auto_id}_error"
