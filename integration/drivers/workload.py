"""The driver matrix's workload for psycopg2 and psycopg 3.

Run by integration/drivers_test.go, once straight to PostgreSQL on
plaintext tables and once through phiguard on the same tables with PHI
columns encrypted; the two outputs must be identical. Usage:

    workload.py psycopg2|psycopg MODE[,MODE...]

The connection comes from the PG* environment variables; each mode runs on
its own table, named $DRIVER_TABLE_PREFIX_MODE. What it prints is each
step's column types (OID, and typmod where the driver exposes it) and rows,
with every value tagged by the Python type the driver returned.
"""
import datetime
import os
import sys
from decimal import Decimal

COLS = "id, ssn, name, birthdate, balance, visits, note"
INSERT = "INSERT INTO {t} (ssn, name, birthdate, balance, visits, note) VALUES (%s, %s, %s, %s, %s, %s)"
ROWS = [
    ("123-45-6789", "Alice Smith", datetime.date(1980, 2, 29), Decimal("1234.56"), 3, "first"),
    ("987-65-4321", "O'Brien \"Zoë\" 日本 \\ back", datetime.date(1955, 11, 5), Decimal("-0.05"), -5, "quotes"),
    ("555-00-1111", None, None, None, None, None),
    (None, "Nobody", datetime.date(2000, 1, 1), Decimal("0.00"), 0, "no ssn"),
    ("123-45-6789", "Alice Twin", datetime.date(1999, 12, 31), Decimal("9999999999.99"), 2147483647, "dup ssn"),
]


def show(v):
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "str:" + repr(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return type(v).__name__ + ":" + v.isoformat()
    return type(v).__name__ + ":" + str(v)


def report(step, cur):
    rows = cur.fetchall()  # first: in a pipeline, this waits for the result
    cols = []
    for d in cur.description:
        cols.append("%s:%s:%s:%s" % (d.name, d.type_code, d.precision, d.scale))
    print(step, " ".join(cols))
    for row in rows:
        print("  " + " | ".join(show(v) for v in row))


def workload(conn, cur, t, many, sync=lambda: None):
    """The steps every mode runs; many inserts a list of rows, sync waits
    for the results of what was sent (a pipeline's rowcount)."""
    cur.execute(INSERT.format(t=t) + " RETURNING id", ROWS[0])
    report("insert-returning", cur)
    many(INSERT.format(t=t), ROWS[1:3])
    for r in ROWS[3:]:
        cur.execute(INSERT.format(t=t), r)
        sync()
        print("insert", cur.rowcount)
    conn.commit()
    cur.execute("SELECT %s FROM %s WHERE id = %%s" % (COLS, t), (2,))
    report("select-id", cur)
    # Six times: drivers switch to server-prepared statements after a
    # threshold (pgjdbc's is 5).
    for i in range(6):
        cur.execute("SELECT %s FROM %s WHERE ssn = %%s ORDER BY id" % (COLS, t), ("123-45-6789",))
        report("select-ssn-%d" % i, cur)
    cur.execute("UPDATE %s SET name = %%s, balance = %%s, visits = %%s, birthdate = %%s WHERE ssn = %%s" % t,
                ("Carol", Decimal("-12.30"), 7, datetime.date(1970, 1, 1), "555-00-1111"))
    sync()
    print("update", cur.rowcount)
    cur.execute("UPDATE %s SET visits = %%s, name = %%s WHERE id = %%s" % t, (None, "Ann", 1))
    sync()
    print("update-null", cur.rowcount)
    cur.execute("SELECT id, visits, name FROM %s WHERE ssn IS NULL OR visits IS NULL ORDER BY id" % t)
    report("select-null", cur)
    cur.execute("DELETE FROM %s WHERE id = %%s" % t, (4,))
    sync()
    print("delete", cur.rowcount)
    conn.commit()
    cur.execute("SELECT %s FROM %s ORDER BY id" % (COLS, t))
    report("select-all", cur)
    conn.commit()


def named_cursor(conn, t, name):
    """A server-side cursor (DECLARE and FETCH) read two rows at a time."""
    cur = conn.cursor(name=name)
    cur.itersize = 2
    cur.execute("SELECT %s FROM %s WHERE ssn IN (%%s, %%s) ORDER BY id" % (COLS, t), ("123-45-6789", "987-65-4321"))
    rows = [" | ".join(show(v) for v in r) for r in cur]
    print("named-cursor", " ".join("%s:%s" % (d.name, d.type_code) for d in cur.description))
    for r in rows:
        print("  " + r)
    cur.close()
    conn.commit()


def run_psycopg2(mode, t):
    import psycopg2
    conn = psycopg2.connect("")
    cur = conn.cursor()
    if mode != "default":
        raise SystemExit("psycopg2: unknown mode " + mode)

    def many(sql, rows):
        cur.executemany(sql, rows)
        print("executemany", cur.rowcount)
    workload(conn, cur, t, many)
    named_cursor(conn, t, "c_" + mode)
    # psycopg2.extras.execute_values: one INSERT with a multi-row VALUES
    # of client-side literals ('…'::date, negative numbers, NULL).
    import psycopg2.extras
    psycopg2.extras.execute_values(cur, "INSERT INTO %s (ssn, name, birthdate, balance, visits) VALUES %%s" % t,
                                   [("111-11-1111", "V1", datetime.date(1990, 1, 1), Decimal("1.5"), 1),
                                    ("111-11-1111", None, None, Decimal("-2"), -2)])
    print("execute-values", cur.rowcount)
    cur.execute("SELECT %s FROM %s WHERE ssn = %%s ORDER BY id" % (COLS, t), ("111-11-1111",))
    report("select-values", cur)
    conn.commit()
    conn.close()


def run_psycopg(mode, t):
    import psycopg
    kwargs = {}
    if mode == "prepare0":
        kwargs["prepare_threshold"] = 0
    if mode == "client":
        kwargs["cursor_factory"] = psycopg.ClientCursor
    conn = psycopg.connect("", **kwargs)
    cur = conn.cursor(binary=(mode == "binary"))

    def many(sql, rows):
        cur.executemany(sql, rows)
        print("executemany", cur.rowcount)
    if mode in ("default", "prepare0", "binary", "executemany", "client"):
        if mode == "executemany":
            def many(sql, rows):
                cur.executemany(sql, rows, returning=True)
                while True:
                    report("executemany-returning", cur) if cur.description else None
                    if not cur.nextset():
                        break
            many_sql = INSERT.format(t=t) + " RETURNING id"

            def many_returning(sql, rows):
                many(many_sql, rows)
            workload(conn, cur, t, many_returning)
        else:
            workload(conn, cur, t, many)
    elif mode == "copy":
        def copy_in(sql, rows):
            with cur.copy("COPY %s (ssn, name, birthdate, balance, visits, note) FROM STDIN" % t) as cp:
                for r in rows:
                    cp.write_row(r)
            print("copy", cur.rowcount)
        workload(conn, cur, t, copy_in)
        types = ["text", "text", "date", "numeric", "int4", "text"]
        with cur.copy("COPY %s (ssn, name, birthdate, balance, visits, note) FROM STDIN (FORMAT BINARY)" % t) as cp:
            cp.set_types(types)
            cp.write_row(("777-77-7777", "Binary \\ copy", datetime.date(1960, 6, 15), Decimal("-0.01"), -7, "bin"))
            cp.write_row(("777-77-7777", None, None, None, None, None))
        print("copy-binary", cur.rowcount)
        conn.commit()
        # COPY (query) is refused on encrypted tables: the table's rows,
        # sorted here.
        with cur.copy("COPY %s (%s) TO STDOUT" % (t, COLS)) as cp:
            cp.set_types(["int4", "text", "text", "date", "numeric", "int4", "text"])
            for row in sorted(cp.rows(), key=lambda r: r[0]):
                print("  copy-out " + " | ".join(show(v) for v in row))
        with cur.copy("COPY %s (%s) TO STDOUT (FORMAT BINARY)" % (t, COLS)) as cp:
            cp.set_types(["int4"] + types)
            for row in sorted(cp.rows(), key=lambda r: r[0]):
                print("  copy-out-binary " + " | ".join(show(v) for v in row))
        conn.commit()
    elif mode == "pipeline":
        with conn.pipeline() as p:
            def many_synced(sql, rows):
                cur.executemany(sql, rows)
                p.sync()
                print("executemany", cur.rowcount)
            workload(conn, cur, t, many_synced, p.sync)
    else:
        raise SystemExit("psycopg: unknown mode " + mode)
    if mode != "pipeline":  # psycopg's server-side cursors are not for pipelines
        named_cursor(conn, t, "c_" + mode)
    conn.close()


def main():
    driver, modes = sys.argv[1], sys.argv[2].split(",")
    prefix = os.environ["DRIVER_TABLE_PREFIX"]
    run = {"psycopg2": run_psycopg2, "psycopg": run_psycopg}[driver]
    for mode in modes:
        print("== " + mode)
        run(mode, prefix + "_" + mode)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
