"""Placeholder in the migration chain; its owner fills in the operations."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_kyc")]

    operations: list = []
