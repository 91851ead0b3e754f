"""A GiST index on each grid's bounding box (PostgreSQL only): locating a point becomes an index lookup
instead of a scan of every grid. Other databases keep the B-tree index of 0001."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS region_grid_box_gist ON grids_region USING gist "
    "(box(point(min_lng, min_lat), point(max_lng, max_lat))) WHERE depth = 5 AND min_lat IS NOT NULL"
)
DROP = "DROP INDEX IF EXISTS region_grid_box_gist"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("grids", "0001_initial")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
