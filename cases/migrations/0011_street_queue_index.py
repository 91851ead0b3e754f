"""The street queue's index: its rows by grid, oldest first, carrying the level.

Without it the queue of a street in the ten-million-case city walked the whole case table by report time (about
70,000 rows read per 1,000 kept, 100–250 ms); with it, the queue is the index entries of the street's grids
(about 1.5 ms). Built CONCURRENTLY on PostgreSQL, so that a big table keeps taking reports while it is built
(about 10 s at ten million cases); a plain partial index elsewhere.
"""

from django.db import migrations, models

INDEX = models.Index(
    condition=models.Q(
        ("state__in", ("called", "escalated", "accepted", "dispatched", "in_progress", "verified")),
        models.Q(("awaiting_rehandle", True), ("state", "closed")),
        _connector="OR",
    ),
    fields=["region", "created_at", "id"],
    include=("level",),
    name="case_queue_open_idx",
)


def create(apps, schema_editor):
    model = apps.get_model("cases", "Case")
    if schema_editor.connection.vendor == "postgresql":
        sql = str(INDEX.create_sql(model, schema_editor, concurrently=True))
        schema_editor.execute(sql.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY IF NOT EXISTS", 1))
    else:
        schema_editor.add_index(model, INDEX)


def drop(apps, schema_editor):
    model = apps.get_model("cases", "Case")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(str(INDEX.remove_sql(model, schema_editor, concurrently=True)))
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("cases", "0010_rollup")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="case", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop, elidable=False)],
        )
    ]
