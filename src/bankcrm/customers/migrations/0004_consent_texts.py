"""The first published wording of each consent purpose, in English and Chinese."""

import datetime as dt

from django.db import migrations

EFFECTIVE_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# purpose → (English, Chinese). Version 1 of each; later versions are added as new rows.
TEXTS = {
    "email_marketing": (
        "I agree that the bank may send me information about its products, services and "
        "offers by e-mail to this address. I can withdraw this consent at any time through the "
        "link in every e-mail, on my preference page or at any branch.",
        "本人同意银行通过此电子邮箱向本人发送其产品、服务及优惠信息。本人可随时通过每封邮件中的"
        "链接、本人的偏好设置页面或在任一网点撤回此同意。",
    ),
    "sms_marketing": (
        "I agree that the bank may send me information about its products, services and "
        "offers by text message (SMS) to this mobile number. I can withdraw this consent at "
        "any time on my preference page or at any branch.",
        "本人同意银行通过短信向此手机号码发送其产品、服务及优惠信息。本人可随时在本人的偏好设置"
        "页面或在任一网点撤回此同意。",
    ),
    "phone_marketing": (
        "I agree that the bank may call me on this number to tell me about its products, "
        "services and offers. I can withdraw this consent at any time on my preference page, "
        "during any such call or at any branch.",
        "本人同意银行致电此号码向本人介绍其产品、服务及优惠。本人可随时在本人的偏好设置页面、"
        "通话过程中或在任一网点撤回此同意。",
    ),
    "profiling": (
        "I agree that the bank may analyse my accounts, transactions and the products I hold "
        "to tailor the offers and advice it gives me. I can withdraw this consent at any time; "
        "I will then receive only general offers.",
        "本人同意银行分析本人的账户、交易及所持产品，以便为本人提供个性化的优惠和建议。本人可随时"
        "撤回此同意；撤回后本人将只收到一般性优惠信息。",
    ),
    "third_party_sharing": (
        "I agree that the bank may share my name and contact details with its selected "
        "partners (insurance and investment companies) so that they can offer me their "
        "products. I can withdraw this consent at any time; data already shared is then no "
        "longer used for offers.",
        "本人同意银行将本人的姓名及联系方式提供给其选定的合作伙伴（保险及投资公司），以便其向"
        "本人推介产品。本人可随时撤回此同意；撤回后，已提供的信息将不再用于推介。",
    ),
}


def seed(apps, schema_editor):
    ConsentText = apps.get_model("customers", "ConsentText")
    existing = set(ConsentText.objects.filter(version=1).values_list("purpose", flat=True))
    ConsentText.objects.bulk_create(
        [
            ConsentText(
                purpose=purpose,
                version=1,
                text_en=text_en,
                text_zh=text_zh,
                effective_from=EFFECTIVE_FROM,
            )
            for purpose, (text_en, text_zh) in TEXTS.items()
            if purpose not in existing
        ]
    )


def unseed(apps, schema_editor):
    ConsentText = apps.get_model("customers", "ConsentText")
    Consent = apps.get_model("customers", "Consent")
    ConsentEvent = apps.get_model("customers", "ConsentEvent")
    # Only wording no consent names: a consent's proof of its text must not be lost.
    used = set(Consent.objects.values_list("text_id", flat=True)) | set(
        ConsentEvent.objects.values_list("text_id", flat=True)
    )
    ConsentText.objects.filter(version=1, purpose__in=list(TEXTS)).exclude(
        pk__in=[pk for pk in used if pk is not None]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_consents_and_contact_flags")]

    operations = [migrations.RunPython(seed, unseed)]
