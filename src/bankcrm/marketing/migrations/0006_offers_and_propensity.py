"""Offers and propensity: what scoring and the next best offer need of the database.

Nothing beyond the tables of 0001: scores are upserted on the (party, product) unique
constraint, decisions are read through their (party, offer, created_at) index and the
contact limit through the messages' (party, sent_at) index.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketing", "0005_conversions")]

    operations: list = []
