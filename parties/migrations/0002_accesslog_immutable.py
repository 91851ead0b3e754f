"""The database itself refuses to change or delete a row of the personal data access log (it is evidence)."""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION parties_accesslog_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'access log rows are immutable (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS parties_accesslog_immutable ON parties_accesslog;
CREATE TRIGGER parties_accesslog_immutable BEFORE UPDATE OR DELETE ON parties_accesslog
    FOR EACH ROW EXECUTE FUNCTION parties_accesslog_immutable();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS parties_accesslog_immutable ON parties_accesslog;
DROP FUNCTION IF EXISTS parties_accesslog_immutable();
"""
SQLITE_CREATE = [
    "CREATE TRIGGER IF NOT EXISTS parties_accesslog_no_update BEFORE UPDATE ON parties_accesslog "
    "BEGIN SELECT RAISE(ABORT, 'access log rows are immutable (UPDATE refused)'); END;",
    "CREATE TRIGGER IF NOT EXISTS parties_accesslog_no_delete BEFORE DELETE ON parties_accesslog "
    "BEGIN SELECT RAISE(ABORT, 'access log rows are immutable (DELETE refused)'); END;",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS parties_accesslog_no_update;", "DROP TRIGGER IF EXISTS parties_accesslog_no_delete;"]


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
    dependencies = [("parties", "0001_initial")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
