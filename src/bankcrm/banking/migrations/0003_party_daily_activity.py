"""Daily activity per customer (segment rules read it instead of raw bookings), filled from
the transactions already stored."""

import bankcrm.core.money
import django.db.models.deletion
from django.db import migrations, models


def fill(apps, schema_editor):
    from bankcrm.banking.activity import party_activity_rebuild

    party_activity_rebuild()


class Migration(migrations.Migration):

    dependencies = [
        ('banking', '0002_transaction_segment_indexes'),
        ('customers', '0005_party_do_not_contact_db_default'),
    ]

    operations = [
        migrations.CreateModel(
            name='PartyDailyActivity',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('day', models.DateField(verbose_name='booking date')),
                ('kind', models.CharField(max_length=20, verbose_name='type')),
                ('direction', models.CharField(max_length=6, verbose_name='credit or debit')),
                ('channel', models.CharField(blank=True, max_length=10, verbose_name='channel')),
                ('currency', bankcrm.core.money.CurrencyField(max_length=3, verbose_name='currency')),
                ('transaction_count', models.PositiveIntegerField(verbose_name='transactions')),
                ('amount_total', bankcrm.core.money.AmountField(decimal_places=4, max_digits=20, verbose_name='amount')),
                ('party', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='daily_activity', to='customers.party', verbose_name='customer')),
            ],
            options={
                'verbose_name': 'daily customer activity',
                'verbose_name_plural': 'daily customer activity',
                'ordering': ['party', 'day'],
                'indexes': [models.Index(fields=['kind', 'party', 'day'], include=('direction', 'channel', 'currency', 'transaction_count', 'amount_total'), name='partyactivity_kind_idx'), models.Index(fields=['channel', 'party', 'day'], include=('kind', 'direction', 'currency', 'transaction_count', 'amount_total'), name='partyactivity_channel_idx')],
                'constraints': [models.UniqueConstraint(fields=('party', 'day', 'kind', 'direction', 'channel', 'currency'), name='partyactivity_unique')],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
