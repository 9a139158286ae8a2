"""An index on parties by (portfolio, name, key) for the "my portfolio" pages.

A page of a relationship manager's customers sorted by name is read from this index
alone (no table rows), however deep the page: the key breaks ties between equal names in
the page order. On PostgreSQL it is built ``CONCURRENTLY``, so adding it to a bank's
large party table does not block writes; Django's model ``Meta.indexes`` cannot do that on
both databases, hence the SQL here (the model state does not list it, and
``makemigrations`` leaves it alone).
"""

from django.db import migrations

INDEX = "party_portfolio_name_key_idx"


def index_create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS {INDEX} "
        "ON customers_party (portfolio_id, display_name, id)"
    )


def index_drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("customers", "0001_parties_and_contacts"),
    ]

    operations = [
        migrations.RunPython(index_create, index_drop, elidable=False),
    ]
