"""Python lists into encrypted array columns, for
integration/python_arrays_test.go.

Run once straight to PostgreSQL on a plaintext table and once through
phiguard on the same table with its array columns encrypted; the two
outputs must be identical. Usage:

    arrays.py psycopg2|psycopg|psycopg-binary TABLE

psycopg2 writes a list as an ARRAY[...] constructor of literals (a date
as '...'::date, an empty list as '{}'); psycopg 3 binds it as a
parameter typed by its elements (a list of small ints as smallint[]), in
text, or in binary with psycopg-binary. The connection comes from the
PG* environment variables. What it prints is the column types and each
row read back, every element tagged by the Python type the driver
returned.
"""
import datetime
import sys
import uuid
from decimal import Decimal

COLS = "id, ta, va, ia, ba, da, tsa, na, ua, fa"
UTC = datetime.timezone.utc
ROWS = [
    (1, ["a", "b c", None, "", 'x"y\\z', "NULL", "Zoë {}"], ["ab", "cd  "], [1, -2, 2147483647], [2**40, -1],
     [datetime.date(2024, 2, 29), None], [datetime.datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)],
     [Decimal("1.005"), Decimal("-2")], [uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")], [0.1, 1e300, -2.5]),
    (2, [], [], [], [], [], [], [], [], []),
    (3, None, None, None, None, None, None, None, None, None),
    (4, [["a", "b"], ["c", None]], [None], [[1, 2], [3, 4]], [5], [datetime.date(1999, 12, 31)], [],
     [Decimal("0.125")], [], [1.5]),
]


def show(v):
    if v is None:
        return "NULL"
    if isinstance(v, list):
        return "[" + ", ".join(show(x) for x in v) + "]"
    if isinstance(v, (datetime.date, datetime.datetime)):
        return type(v).__name__ + ":" + v.isoformat()
    return type(v).__name__ + ":" + repr(v)


def main():
    driver, table = sys.argv[1], sys.argv[2]
    insert = "INSERT INTO %s (%s) VALUES (%s)" % (table, COLS, ", ".join(["%s"] * 10))
    if driver == "psycopg2":
        import psycopg2
        import psycopg2.extras
        psycopg2.extras.register_uuid()
        conn = psycopg2.connect("")
        cur = conn.cursor()
    else:
        import psycopg
        conn = psycopg.connect("")
        cur = conn.cursor(binary=(driver == "psycopg-binary"))
    conn.autocommit = True
    for row in ROWS:
        cur.execute(insert, row)
    # A list too long for varchar(4)[]: PostgreSQL's 22001 either way.
    try:
        cur.execute("INSERT INTO %s (id, va) VALUES (%%s, %%s)" % table, (9, ["abcdef"]))
        print("long value: stored")
    except Exception as e:  # noqa: BLE001 -- the SQLSTATE is what is compared
        print("long value:", getattr(e, "sqlstate", None) or getattr(e, "pgcode", None))
    cur.execute("SELECT %s FROM %s ORDER BY id" % (COLS, table))
    rows = cur.fetchall()
    print(" ".join("%s:%s" % (d.name, d.type_code) for d in cur.description))
    for row in rows:
        print("  " + " | ".join(show(v) for v in row))


if __name__ == "__main__":
    main()
