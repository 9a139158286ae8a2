"""Indexes for segment rules over transaction windows (by type or channel, then date)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("banking", "0001_accounts_and_transactions")]

    operations = [
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(
                fields=["kind", "booking_date"],
                include=["account_id", "amount", "direction"],
                name="txn_kind_date_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(
                fields=["channel", "booking_date"],
                include=["account_id"],
                name="txn_channel_date_idx",
            ),
        ),
    ]
