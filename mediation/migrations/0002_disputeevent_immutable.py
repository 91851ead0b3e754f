"""The database itself refuses to change or delete a dispute event (the timeline is evidence)."""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION mediation_disputeevent_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'dispute events are immutable (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS mediation_disputeevent_immutable ON mediation_disputeevent;
CREATE TRIGGER mediation_disputeevent_immutable BEFORE UPDATE OR DELETE ON mediation_disputeevent
    FOR EACH ROW EXECUTE FUNCTION mediation_disputeevent_immutable();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS mediation_disputeevent_immutable ON mediation_disputeevent;
DROP FUNCTION IF EXISTS mediation_disputeevent_immutable();
"""
SQLITE_CREATE = [
    "CREATE TRIGGER IF NOT EXISTS mediation_disputeevent_no_update BEFORE UPDATE ON mediation_disputeevent "
    "BEGIN SELECT RAISE(ABORT, 'dispute events are immutable (UPDATE refused)'); END;",
    "CREATE TRIGGER IF NOT EXISTS mediation_disputeevent_no_delete BEFORE DELETE ON mediation_disputeevent "
    "BEGIN SELECT RAISE(ABORT, 'dispute events are immutable (DELETE refused)'); END;",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS mediation_disputeevent_no_update;", "DROP TRIGGER IF EXISTS mediation_disputeevent_no_delete;"]


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_CREATE:
            schema_editor.execute(sql)


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_DROP:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("mediation", "0001_initial")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
