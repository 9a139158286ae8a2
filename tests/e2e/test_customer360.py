# ruff: noqa: F811 - the shared fixtures are imported by name
"""The relationship manager's journey: sign in, find a customer by pinyin, open the
customer 360, log a call; at desktop and phone sizes, screenshots kept."""

from __future__ import annotations

import pytest

from bankcrm.audit.models import AuditEvent
from bankcrm.customers.models import Interaction
from tests.customers.c360_world import world  # noqa: F401 - the fixture

from .conftest import screenshot
from .test_shell import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = (375, 812)


def _journey(page, world, size: str) -> None:
    sign_in(page, "anna.rm")
    if size == "1920":
        page.locator('#bc-sidenav a[data-nav-key="customers"]').click()
    else:
        # On a phone the navigation sits behind its toggle.
        page.locator("#bc-nav-toggle").click()
        page.locator('#bc-sidenav a[data-nav-key="customers"]').click()
    page.wait_for_url("**/customers/")
    box = page.get_by_label("Search customers")
    box.fill("li wei")
    link = page.locator("#customer-search-results a.customer-result-link")
    link.first.wait_for(state="visible")
    assert link.all_inner_texts() == ["李伟"]
    # Nothing of branch B: 张伟 is someone else's customer.
    assert "张伟" not in page.locator("#customer-search-results").inner_text()
    screenshot(page, f"customer-search-{size}")

    # Tone marks and no spaces find the same customer.
    with page.expect_response(lambda r: "/customers/?q=" in r.url and "%C7%90" in r.url):
        box.fill("lǐwěi")
    page.wait_for_function(
        "document.querySelector('#customer-search-results h2').innerText.includes('pinyin')"
    )
    assert link.all_inner_texts() == ["李伟"]

    link.first.click()
    page.wait_for_url(f"**/customers/{world.li_wei.pk}/")
    assert page.get_by_role("heading", name="李伟", exact=True).is_visible()
    assert page.locator("#customer-branch").inner_text().strip() == "Branch A"
    assert page.locator("#customer-rm").inner_text().strip() == "Anna RM"
    assert page.locator("#holdings-assets").inner_text().strip() == "CNY 12,500.00"
    # Personal data is masked until someone asks, with a reason.
    identity = page.locator("#identity")
    assert "330102********" in identity.inner_text()
    assert world.li_wei.identifiers.get().number not in identity.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= (375 if size == "375" else 1920)
    screenshot(page, f"customer-360-{size}")

    form = page.locator("#interaction-add")
    form.get_by_label("Subject").fill("Term deposit renewal call")
    form.get_by_label("Notes").fill("Customer will renew for 12 months.")
    form.get_by_label("Outcome").fill("Renewal agreed")
    form.locator("#interaction-submit").click()
    page.locator("#interaction-logged").wait_for(state="visible")
    first = page.locator("#interaction-list li").first
    assert "Term deposit renewal call" in first.inner_text()
    assert (
        Interaction.objects.filter(party=world.li_wei, subject="Term deposit renewal call").count()
        == 1
    )
    first.scroll_into_view_if_needed()
    screenshot(page, f"customer-360-interaction-{size}")


def test_rm_finds_a_customer_by_pinyin_and_logs_a_call(browser_page, world):
    _journey(browser_page, world, "1920")


@pytest.mark.parametrize("viewport", [PHONE])
def test_the_same_journey_on_a_phone(browser_page, world):
    _journey(browser_page, world, "375")


def test_an_empty_subject_is_reported_in_place(browser_page, world):
    page = browser_page
    sign_in(page, "anna.rm")
    page.goto(f"/customers/{world.li_wei.pk}/")
    page.locator("#interaction-submit").click()
    error = page.locator("#id_subject_error")
    error.wait_for(state="visible")
    assert error.inner_text().strip() == "This field is required."
    assert Interaction.objects.filter(party=world.li_wei).count() == 0


def test_unmask_asks_for_a_reason_and_shows_the_value(browser_page, world):
    page = browser_page
    sign_in(page, "anna.rm")
    page.goto(f"/customers/{world.li_wei.pk}/")
    identifier = world.li_wei.identifiers.get()
    value = page.locator(f"#pii-identifier-{identifier.pk}-number")
    assert value.inner_text().split()[0] == "330102********" + identifier.number[-4:]
    value.get_by_role("button", name="Show").click()
    reason = page.get_by_label("Why do you need to see this value?")
    reason.fill("Customer on the phone asks to confirm the ID on file")
    page.locator(
        f"#pii-identifier-{identifier.pk}-number button[type=submit]", has_text="Show"
    ).click()
    page.locator(f"#pii-identifier-{identifier.pk}-number.bc-pii-revealed").wait_for(
        state="visible"
    )
    screenshot(page, "customer-360-unmasked-1920")
    assert identifier.number in page.locator("#identity").inner_text()
    assert AuditEvent.objects.filter(action="pii.unmask", object_pk=str(identifier.pk)).count() == 1
    # Hiding it again: the clear value leaves the page.
    page.locator(f"#pii-identifier-{identifier.pk}-number").get_by_role(
        "button", name="Hide"
    ).click()
    page.wait_for_function(
        f"!document.querySelector('#identity').innerText.includes('{identifier.number}')"
    )
