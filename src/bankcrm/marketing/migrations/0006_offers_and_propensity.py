"""Offers and propensity: what scoring and the next best offer need of the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketing", "0005_conversions")]

    operations: list = []
