"""Shared by the ORM workloads: the connection settings, the data and the
JSON form of each step's result.

A workload runs its steps in order and prints one JSON object, step name to
result. A step that raises is recorded as {"error": SQLSTATE and message}
and the workload goes on, so that a comparison names every step that
differs, not only the first.
"""

import datetime
import decimal
import json
import os
import sys
import urllib.parse


def dsn():
    """The connection parameters of PHIGUARD_ORM_URL, a postgres:// URL."""
    u = urllib.parse.urlsplit(os.environ["PHIGUARD_ORM_URL"])
    q = dict(urllib.parse.parse_qsl(u.query))
    return {
        "host": u.hostname,
        "port": u.port,
        "dbname": u.path.lstrip("/"),
        "user": urllib.parse.unquote(u.username),
        "password": urllib.parse.unquote(u.password or ""),
        "sslmode": q.get("sslmode", "disable"),
    }


UTC = datetime.timezone.utc

# The patients every workload creates: PII (name, ssn, birthdate, balance,
# mrn, registered) and plaintext (city, active). Negative and NULL values,
# and times on both sides of a DST change, on purpose.
PATIENTS = [
    ("Ada Lovelace", "123-45-6789", datetime.date(1815, 12, 10), decimal.Decimal("1234.50"), "London", True,
     10001, datetime.datetime(2024, 3, 10, 6, 59, 59, tzinfo=UTC)),
    ("Alan O'Turing", "987-65-4321", datetime.date(1912, 6, 23), decimal.Decimal("-0.05"), "London", False,
     10002, datetime.datetime(2024, 3, 10, 7, 0, 0, 123456, tzinfo=UTC)),
    ("Grace Hopper", "555-12-0000", datetime.date(1906, 12, 9), decimal.Decimal("0"), "New York", True,
     -3, datetime.datetime(1999, 12, 31, 23, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))),
    ("Émile Noël", "111-22-3333", None, None, "Paris", True, None, None),
]

# Added by bulk create: (name, ssn, birthdate, balance, city, active, mrn,
# registered).
BULK = [
    ("Bulk %d" % i, "900-00-%04d" % i, datetime.date(2000, 1, 1) + datetime.timedelta(days=37 * i),
     decimal.Decimal("%d.%02d" % (i * 10, i)), ["Paris", "Oslo", "Lima"][i % 3], i % 2 == 0,
     20000 + i, datetime.datetime(2024, 11, 3, 5, 30, tzinfo=UTC) + datetime.timedelta(minutes=20 * i))
    for i in range(1, 9)
]


def plain(v):
    """A value as JSON would keep it, with its Python type named where
    JSON would lose it (a date and a string look alike)."""
    if isinstance(v, datetime.datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, datetime.date):
        return {"date": v.isoformat()}
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def error_of(e):
    """The SQLSTATE and message of a database error (psycopg2's, possibly
    wrapped by the ORM), else the exception's type and text."""
    for x in (e, getattr(e, "orig", None), e.__cause__):
        code = getattr(x, "pgcode", None)
        if code:
            return {"sqlstate": code, "message": str(getattr(x, "pgerror", x)).strip().splitlines()[0]}
    return {"exception": type(e).__name__, "message": str(e).strip().splitlines()[0]}


class Steps:
    """Runs the named steps and collects their results."""

    def __init__(self, on_error=None):
        self.results = {}
        self.on_error = on_error

    def step(self, name):
        def run(fn):
            try:
                self.results[name] = plain(fn())
            except Exception as e:  # noqa: BLE001 - every error is a result
                self.results[name] = {"error": error_of(e)}
                if self.on_error:
                    self.on_error()
            return fn
        return run

    def dump(self):
        json.dump(self.results, sys.stdout, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        sys.stdout.write("\n")
