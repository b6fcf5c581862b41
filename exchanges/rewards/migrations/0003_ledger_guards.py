"""The database's own guard on the ledger.

PostgreSQL: a deferred constraint trigger checks, at commit, that every transaction an
insert touched has at least two entries and sums to zero in every unit; other triggers
refuse any UPDATE or DELETE of entries and transactions (TRUNCATE, which only a test's
flush uses, is not a row operation). SQLite (the embedded default) has no deferred
triggers, and a row trigger refusing DELETE would also refuse the test suite's flush: there
the ledger service, the only writer, is the guard.
"""

from django.db import migrations

PG_FORWARD = """
CREATE FUNCTION rewards_transaction_balanced() RETURNS trigger AS $$
DECLARE
    txn varchar;
    bad record;
BEGIN
    IF TG_TABLE_NAME = 'rewards_entry' THEN txn := NEW.transaction_id; ELSE txn := NEW.id; END IF;
    IF (SELECT count(*) FROM rewards_entry WHERE transaction_id = txn) < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has fewer than two entries', txn
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT unit, sum(amount) AS total INTO bad FROM rewards_entry
        WHERE transaction_id = txn GROUP BY unit HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %: %', txn, bad.unit, bad.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER rewards_entry_balanced AFTER INSERT ON rewards_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rewards_transaction_balanced();
CREATE CONSTRAINT TRIGGER rewards_transaction_balanced AFTER INSERT ON rewards_transaction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rewards_transaction_balanced();

CREATE FUNCTION rewards_ledger_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are never updated or deleted; post a reversing transaction',
        TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER rewards_entry_immutable BEFORE UPDATE OR DELETE ON rewards_entry
    FOR EACH ROW EXECUTE FUNCTION rewards_ledger_immutable();
CREATE TRIGGER rewards_transaction_immutable BEFORE UPDATE OR DELETE ON rewards_transaction
    FOR EACH ROW EXECUTE FUNCTION rewards_ledger_immutable();
"""

PG_BACKWARD = """
DROP TRIGGER rewards_transaction_immutable ON rewards_transaction;
DROP TRIGGER rewards_entry_immutable ON rewards_entry;
DROP FUNCTION rewards_ledger_immutable();
DROP TRIGGER rewards_transaction_balanced ON rewards_transaction;
DROP TRIGGER rewards_entry_balanced ON rewards_entry;
DROP FUNCTION rewards_transaction_balanced();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)  # no placeholders: keep the % literal


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("rewards", "0002_seed_activity_types")]

    operations = [migrations.RunPython(forward, backward)]
