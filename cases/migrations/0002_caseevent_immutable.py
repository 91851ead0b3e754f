"""The database itself refuses to change or delete a case event (the timeline is evidence)."""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION cases_caseevent_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'case events are immutable (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS cases_caseevent_immutable ON cases_caseevent;
CREATE TRIGGER cases_caseevent_immutable BEFORE UPDATE OR DELETE ON cases_caseevent
    FOR EACH ROW EXECUTE FUNCTION cases_caseevent_immutable();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS cases_caseevent_immutable ON cases_caseevent;
DROP FUNCTION IF EXISTS cases_caseevent_immutable();
"""
SQLITE_CREATE = [
    "CREATE TRIGGER IF NOT EXISTS cases_caseevent_no_update BEFORE UPDATE ON cases_caseevent "
    "BEGIN SELECT RAISE(ABORT, 'case events are immutable (UPDATE refused)'); END;",
    "CREATE TRIGGER IF NOT EXISTS cases_caseevent_no_delete BEFORE DELETE ON cases_caseevent "
    "BEGIN SELECT RAISE(ABORT, 'case events are immutable (DELETE refused)'); END;",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS cases_caseevent_no_update;", "DROP TRIGGER IF EXISTS cases_caseevent_no_delete;"]


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
    dependencies = [("cases", "0001_initial")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
