"""The map's index on the case table: open cases by grid, carrying the columns the map filters and counts on.

It lives with the map, its only reader, so that the cases app's migrations stay its own. The counts per grid of a
region are then an index-only scan over that region's open cases (about 1 ms for a district of the million-case
city, against about 100 ms through the (grid, state) index, which must visit the table for each case). Built
CONCURRENTLY on PostgreSQL, so that a big table keeps taking reports while it is built; on SQLite (the embedded
default) a plain partial index without the carried columns.
"""

from django.db import migrations

NAME = "casemap_open_region_idx"
WHERE = "NOT (state IN ('closed', 'cancelled'))"  # the open cases, as the cases app's partial indexes say it


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON cases_case (region_id) "
            f"INCLUDE (state, due_at, yellow_at, category_id, created_at) WHERE {WHERE}"
        )
    else:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {NAME} ON cases_case (region_id) WHERE {WHERE}")


def drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("cases", "0009_merge_open311_and_rehandle")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
