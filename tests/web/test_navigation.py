"""The side navigation: a registry every module adds to, filtered by each person's roles."""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from bankcrm.web import navigation
from bankcrm.web.navigation import nav_for, nav_sections, register_nav, unregister_nav

from .conftest import person
from .htmlparse import tags


@pytest.fixture
def registry():
    """A copy of the registry that the test may change; the real one is restored after."""
    saved = dict(navigation._REGISTRY)
    yield navigation._REGISTRY
    navigation._REGISTRY.clear()
    navigation._REGISTRY.update(saved)


def keys(entries):
    return [entry.key for entry in entries]


def test_the_shell_registers_home_first_and_help_last():
    entries = navigation.nav_entries()
    assert entries[0].key == "home"
    assert entries[0].url == "/"
    assert entries[-1].key == "help"
    assert entries[-1].url == "/help/"


def test_a_relationship_manager_does_not_see_the_audit_trail(relationship_manager):
    assert "audit" not in keys(nav_for(relationship_manager))
    assert keys(nav_for(relationship_manager))[0] == "home"


def test_an_auditor_sees_the_audit_trail(auditor):
    visible = nav_for(auditor)
    assert "audit" in keys(visible)
    assert keys(visible)[0] == "home"
    assert keys(visible)[-1] == "help"


def test_nobody_sees_anything_before_signing_in():
    from django.contrib.auth.models import AnonymousUser

    assert nav_for(AnonymousUser()) == []
    assert nav_for(None) == []


def test_entries_are_filtered_by_permission_and_ordered(registry, db):
    register_nav(
        "zz_customers", "Customers", "web:help", permission="customers.view_party", order=20
    )
    register_nav("zz_risk", "Risk models", "web:help", permission="risk.view_model", order=30)
    register_nav("zz_first", "First", "web:help", order=5)
    manager = person("relationship_manager")
    visible = keys(nav_for(manager))
    assert visible.index("home") < visible.index("zz_first") < visible.index("zz_customers")
    assert "zz_risk" not in visible


def test_an_entry_whose_page_is_not_mounted_is_left_out(registry, relationship_manager):
    register_nav("zz_missing", "Missing module", "nowhere:list", order=1)
    assert "zz_missing" not in keys(nav_for(relationship_manager))


def test_registering_a_key_again_replaces_the_entry(registry):
    register_nav("zz_twice", "Old", "web:help", order=1)
    register_nav("zz_twice", "New", "web:help", order=2)
    assert [e.label for e in navigation.nav_entries() if e.key == "zz_twice"] == ["New"]
    unregister_nav("zz_twice")
    assert "zz_twice" not in keys(navigation.nav_entries())


def test_an_entry_needs_a_key(registry):
    with pytest.raises(ValueError):
        register_nav("", "No key", "web:help")


def test_sections_group_entries_after_the_unsectioned_ones(registry, relationship_manager):
    register_nav("zz_b", "B", "web:help", order=50, section=_("Customers"))
    register_nav("zz_a", "A", "web:help", order=40, section=_("Customers"))
    register_nav("zz_c", "C", "web:help", order=45, section=_("Reports"))
    sections = nav_sections(nav_for(relationship_manager))
    assert sections[0].label is None
    # The seeded relationship manager also reads their dashboards and reports (analytics),
    # lending, KYC reviews (compliance) and their customers' service cases and marketing
    # (campaigns and offers reaching their customers), which have their own sections.
    assert [str(s.label) for s in sections[1:]] == [
        "Analytics", "Customers", "Lending", "Reports", "Compliance", "Customer service",
        "Marketing",
    ]  # fmt: skip
    assert [e.key for e in sections[2].entries] == ["zz_a", "zz_b"]


def test_labels_follow_the_reader_language(relationship_manager):
    home = nav_for(relationship_manager)[0]
    with translation.override("zh-hans"):
        assert str(home.label) == "我的工作"
    with translation.override("en"):
        assert str(home.label) == "My work"


def test_the_rendered_shell_shows_only_permitted_entries(client, relationship_manager, auditor):
    client.force_login(relationship_manager)
    page = client.get("/").content.decode()
    assert 'data-nav-key="home"' in page
    assert 'data-nav-key="help"' in page
    assert 'data-nav-key="audit"' not in page
    client.force_login(auditor)
    page = client.get("/").content.decode()
    assert 'data-nav-key="audit"' in page
    # The current page is marked for screen readers, and only that one.
    current = [a for a in tags(page, "a") if a.get("aria-current") == "page"]
    assert [a["data-nav-key"] for a in current] == ["home"]
