"""Template tags of the service pages.

``{% sla_clock clock show_kind=True show_due=True %}`` renders one SLA clock
(``views_workspace.ClockView``): its state in words and colour, the business time left or
overdue, and the attributes the countdown script (``support/support.js``) reads. A tag, not an
included template: the workspace shows two clocks per case in two layouts, 200 clocks a page,
and an include per clock cost a third of the page's time.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from bankcrm.core.timefmt import format_datetime

register = template.Library()

# States whose clock shows the time left or overdue beside the state's name.
_TIMED_STATES = frozenset({"running", "warning", "breached", "paused"})


@register.simple_tag
def sla_clock(clock: Any, show_kind: bool = False, show_due: bool = False) -> SafeString:
    attributes: list[tuple[str, Any]] = [
        ("class", f"bc-sla bc-sla-{clock.state}"),
        ("data-kind", clock.kind),
        ("data-state", clock.state),
    ]
    if clock.ticks:
        target = clock.target_minutes
        attributes += [
            ("data-remaining", clock.remaining_minutes),
            ("data-target", "" if target is None else target),
            ("data-warning", clock.warning_percent),
            ("data-rendered", clock.rendered_ms),
            ("data-until", clock.ticks_until_ms),
        ]
    parts = []
    if show_kind:
        parts.append(format_html('<span class="bc-sla-kind">{}</span> ', clock.label))
    parts.append(format_html('<span class="bc-sla-state">{}</span>', clock.state_label))
    if clock.state in _TIMED_STATES:
        parts.append(format_html(' <span class="bc-sla-text">{}</span>', clock.text))
    if show_due and clock.due_at:
        due = _("due %(due)s") % {"due": format_datetime(clock.due_at)}
        parts.append(format_html(' <span class="small bc-muted">{}</span>', due))
    return format_html(
        "<span {} data-sla-clock>{}</span>",
        format_html_join(" ", '{}="{}"', attributes),
        mark_safe("".join(parts)),  # noqa: S308  # nosec B308 B703 (each part is built by format_html)
    )
