import datetime as dt
import json

import pytest
from django.core.exceptions import PermissionDenied
from django.template import Context, Template
from django.test import RequestFactory

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.core.masking import actor_may_unmask, mask, pii_reveal_key
from bankcrm.core.services import pii_unmask
from tests.factories import RoleFactory, UserFactory
from tests.testapp.models import SecretNote


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("id", "330102198503151234", "330102********1234"),
        ("id", "33010219850315123X", "330102********123X"),
        ("id", "330102850315123", "330102*****5123"),
        ("id", "E12345678", "E1*****78"),
        ("id", "12345", "*****"),
        ("id", " 3301 0219 8503 1512 34 ", "330102********1234"),
        ("phone", "+86 138 1234 5678", "+86 138****5678"),
        ("phone", "+8613812345678", "+86 138****5678"),
        ("phone", "0086 13812345678", "+86 138****5678"),
        ("phone", "13812345678", "138****5678"),
        ("phone", "１３８１２３４５６７８", "138****5678"),
        ("phone", "+44 7911 123456", "+********3456"),
        ("phone", "0571-8888 6666", "********6666"),
        ("phone", "110", "***"),
        ("email", "li.wei@bank.cn", "l***@bank.cn"),
        ("email", "x@bank.cn", "x***@bank.cn"),
        ("email", "not-an-address", "no****"),
        ("name", "李伟", "李*"),
        ("name", "张三丰", "张**"),
        ("name", "欧阳修文", "欧阳**"),
        ("name", "Wei Li", "W*** Li"),
        ("name", "Mary Ann Smith", "M*** A*** Smith"),
        ("name", "Madonna", "M***"),
        ("date", dt.date(1985, 3, 15), "1985-**-**"),
        ("date", "1985-03-15", "1985-**-**"),
        ("date", "15/03/1985", "****-**-**"),
        ("account", "6222 0212 3456 7890", "**** 7890"),
        ("account", "123", "****"),
        ("text", "浙江省杭州市西湖区", "浙江****"),
        ("text", "abcd", "****"),
        ("text", None, ""),
        ("phone", "", ""),
    ],
)
def test_mask(kind, value, expected):
    assert mask(value, kind) == expected


def test_mask_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown mask kind 'ssn'"):
        mask("x", "ssn")


def test_masked_filter_in_a_template():
    html = Template('{% load pii %}{{ phone|masked:"phone" }}|{{ id|masked:"id" }}').render(
        Context({"phone": "13812345678", "id": "330102198503151234"})
    )
    assert html == "138****5678|330102********1234"


@pytest.fixture
def unmasking_user(db):
    return UserFactory(roles=[RoleFactory(code="compliance_check", may_unmask=True)])


@pytest.fixture
def plain_user(db):
    return UserFactory(roles=[RoleFactory(code="service_desk", may_unmask=False)])


@pytest.mark.django_db
def test_actor_may_unmask(unmasking_user, plain_user):
    assert actor_may_unmask(unmasking_user) is True
    assert actor_may_unmask(plain_user) is False
    assert actor_may_unmask(SystemActor("nightly")) is True
    assert actor_may_unmask(None) is False
    inactive_role = UserFactory(roles=[RoleFactory(code="old", may_unmask=True, is_active=False)])
    assert actor_may_unmask(inactive_role) is False
    inactive_user = UserFactory(is_active=False, roles=[RoleFactory(code="x", may_unmask=True)])
    assert actor_may_unmask(inactive_user) is False


@pytest.fixture
def note(db):
    return SecretNote.objects.create(
        title="Li Wei", national_id="330102198503151234", born_on=dt.date(1985, 3, 15)
    )


@pytest.mark.django_db
def test_pii_unmask_returns_the_value_and_audits_without_it(unmasking_user, note):
    value = pii_unmask(
        actor=unmasking_user, target=note, field="national_id", reason="KYC review #42"
    )
    assert value == "330102198503151234"
    event = AuditEvent.objects.get(action="pii.unmask")
    assert event.actor == unmasking_user.username
    assert event.actor_user_id == unmasking_user.pk
    assert event.object_type == "testapp.secretnote"
    assert event.object_pk == str(note.pk)
    assert event.reason == "KYC review #42"
    assert event.after == {"field": "national_id"}
    stored = json.dumps(
        {f.name: str(getattr(event, f.name)) for f in AuditEvent._meta.concrete_fields},
        ensure_ascii=False,
    )
    assert "330102198503151234" not in stored
    assert "Li Wei" not in stored  # the record's own text is not copied either
    date = pii_unmask(actor=SystemActor("report"), target=note, field="born_on", reason="x")
    assert date == "1985-03-15"
    assert AuditEvent.objects.filter(action="pii.unmask").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_pii_unmask_without_reason_is_refused_and_not_audited(unmasking_user, note, reason):
    count = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied, match="reason"):
        pii_unmask(actor=unmasking_user, target=note, field="national_id", reason=reason)
    assert AuditEvent.objects.count() == count


@pytest.mark.django_db
def test_pii_unmask_without_the_role_right_is_refused_and_not_audited(plain_user, note):
    count = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied, match="may not"):
        pii_unmask(actor=plain_user, target=note, field="national_id", reason="curious")
    assert AuditEvent.objects.count() == count


@pytest.mark.django_db
def test_pii_unmask_unknown_field(unmasking_user, note):
    with pytest.raises(ValueError, match="no field 'salary'"):
        pii_unmask(actor=unmasking_user, target=note, field="salary", reason="x")
    assert not AuditEvent.objects.filter(action="pii.unmask").exists()


@pytest.mark.django_db
def test_pii_tag_masks_unless_revealed_to_a_viewer_who_may_unmask(unmasking_user, plain_user, note):
    template = Template('{% load pii %}{% pii note "national_id" "id" %}')
    request = RequestFactory().get("/")
    key = pii_reveal_key(note, "national_id")

    def render(user, revealed=()):
        request.user = user
        return template.render(
            Context({"request": request, "note": note, "pii_revealed": revealed})
        )

    assert render(unmasking_user) == "330102********1234"  # masked by default
    assert render(unmasking_user, {key}) == "330102198503151234"
    assert render(plain_user, {key}) == "330102********1234"
    assert render(unmasking_user, {pii_reveal_key(note, "phone")}) == "330102********1234"
