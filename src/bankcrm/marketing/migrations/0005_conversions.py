"""Conversions: what their detection and the campaign report need of the database.

Nothing new: detection reads the targets through ``campaigntarget_group_idx`` (campaign,
group, variant) and the accounts through ``account_owner_status_idx`` and
``accountrole_party_account_idx``; the report aggregates those same rows.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketing", "0004_message_sending")]

    operations: list = []
