"""The Django workload: a Patient model with PII (name, ssn, birthdate,
balance) and related Visit and Address rows, run through the ORM's usual
calls. `django_workload.py schema` creates the tables with Django's schema
editor; `django_workload.py run` runs the workload and prints each step's
result as JSON (common.py). PHIGUARD_ORM_URL says where to connect.
"""

import datetime
import decimal
import logging
import os
import sys

import django
from django.conf import settings

import common

c = common.dsn()
settings.configure(
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": c["host"], "PORT": c["port"], "NAME": c["dbname"],
        "USER": c["user"], "PASSWORD": c["password"],
        "OPTIONS": {"sslmode": c["sslmode"]},
    }},
    INSTALLED_APPS=["clinic"],
    USE_TZ=True,
    TIME_ZONE="UTC",
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

if os.environ.get("PHIGUARD_ORM_SQL"):
    # Every statement Django sends, on stderr (Django logs them at DEBUG
    # only when settings.DEBUG is on).
    settings.DEBUG = True
    logging.basicConfig(stream=sys.stderr)
    logging.getLogger("django.db.backends").setLevel(logging.DEBUG)

from clinic.models import Address, Patient, Visit  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, Max, Q  # noqa: E402

MODELS = [Patient, Visit, Address]
FIELDS = ["id", "name", "ssn", "birthdate", "balance", "city", "active", "mrn", "registered"]


def schema():
    with connection.schema_editor() as editor:
        for m in MODELS:
            editor.create_model(m)


def patients(qs=None):
    return list((qs if qs is not None else Patient.objects.all()).order_by("id").values(*FIELDS))


def run():
    s = common.Steps()

    @s.step("01 create with related rows")
    def _():
        made = []
        for i, (name, ssn, born, bal, city, active, mrn, reg) in enumerate(common.PATIENTS):
            p = Patient.objects.create(name=name, ssn=ssn, birthdate=born, balance=bal, city=city, active=active,
                                       mrn=mrn, registered=reg)
            p.visits.create(day=datetime.date(2024, 1, 1 + i), kind="checkup", notes="note for %s" % name)
            p.visits.create(day=datetime.date(2024, 2, 1 + i), kind="lab", notes="")
            Address.objects.create(patient=p, street="%d Main St" % (i + 1), zip="1000%d" % i)
            made.append([p.pk, type(p.birthdate).__name__, type(p.balance).__name__])
        return made

    @s.step("02 read all")
    def _():
        return patients()

    @s.step("03 get by pk and refresh")
    def _():
        p = Patient.objects.get(pk=2)
        p.refresh_from_db()
        return [p.name, p.ssn, p.birthdate, p.balance, p.mrn, p.registered,
                type(p.birthdate).__name__, type(p.balance).__name__, type(p.registered).__name__]

    @s.step("04 read with a server-side cursor")
    def _():
        # iterator() reads through a named cursor: DECLARE ... WITH HOLD, FETCH.
        return [[p.id, p.name, p.ssn, p.birthdate, p.balance, p.registered]
                for p in Patient.objects.order_by("id").iterator(chunk_size=3)]

    @s.step("05 filter ssn equal")
    def _():
        return patients(Patient.objects.filter(ssn="987-65-4321"))

    @s.step("06 filter mrn equal")
    def _():
        return [patients(Patient.objects.filter(mrn=10002)), patients(Patient.objects.filter(mrn=-3)),
                patients(Patient.objects.filter(mrn__in=[10001, 99])), patients(Patient.objects.filter(mrn__isnull=True))]

    @s.step("07 filter ssn in, exclude ssn")
    def _():
        return [patients(Patient.objects.filter(ssn__in=["123-45-6789", "111-22-3333", "000-00-0000"])),
                patients(Patient.objects.exclude(ssn="123-45-6789"))]

    @s.step("08 get ssn, get_or_create")
    def _():
        got = Patient.objects.get(ssn="555-12-0000")
        same, created = Patient.objects.get_or_create(ssn="555-12-0000", defaults={"name": "x", "city": "x"})
        new, created2 = Patient.objects.get_or_create(
            ssn="222-33-4444", defaults={"name": "New One", "city": "Oslo", "birthdate": datetime.date(1999, 9, 9),
                                         "balance": decimal.Decimal("10.10")})
        return [got.pk, got.name, same.pk, created, new.pk, created2, new.birthdate]

    @s.step("09 values_list, distinct, in_bulk, first and last")
    def _():
        return [list(Patient.objects.order_by("id").values_list("ssn", flat=True)),
                list(Patient.objects.filter(city="London").values_list("name", "birthdate").order_by("id")),
                sorted(Patient.objects.values_list("ssn", flat=True).distinct()),
                {k: v.name for k, v in Patient.objects.in_bulk([1, 3]).items()},
                Patient.objects.order_by("id").first().ssn, Patient.objects.order_by("id").last().ssn]

    @s.step("10 filter plaintext columns")
    def _():
        return [patients(Patient.objects.filter(city="London")),
                patients(Patient.objects.filter(active=False)),
                patients(Patient.objects.filter(Q(city="Paris") | Q(city="Oslo"), active=True))]

    @s.step("11 related: filter by patient ssn, select_related, prefetch")
    def _():
        by_ssn = list(Visit.objects.filter(patient__ssn="123-45-6789").order_by("id").values("id", "day", "kind", "notes"))
        joined = [[v.id, v.kind, v.patient.name, v.patient.ssn, v.patient.birthdate, v.patient.balance]
                  for v in Visit.objects.select_related("patient").order_by("id")]
        pre = [[p.id, [a.street for a in p.addresses.all()], [v.notes for v in p.visits.all()]]
               for p in Patient.objects.prefetch_related("addresses", "visits").order_by("id")]
        return [by_ssn, joined, pre]

    @s.step("12 update: save, queryset update")
    def _():
        p = Patient.objects.get(ssn="987-65-4321")
        p.name = "Alan M. Turing"
        p.balance = decimal.Decimal("-17.25")
        p.birthdate = datetime.date(1912, 6, 24)
        p.registered = datetime.datetime(2024, 11, 3, 6, 30, tzinfo=common.UTC)
        p.save()
        n1 = Patient.objects.filter(ssn="123-45-6789").update(balance=decimal.Decimal("99.99"), city="Paris")
        n2 = Patient.objects.filter(city="New York").update(name="Rear Adm. Grace Hopper", ssn="555-12-9999")
        n3 = Visit.objects.filter(kind="lab").update(notes="lab results pending")
        with transaction.atomic():
            a = Address.objects.get(patient__ssn="555-12-9999")
            a.street = "1 Navy Yard"
            a.save(update_fields=["street"])
        upd, created = Patient.objects.update_or_create(ssn="222-33-4444", defaults={"city": "Bergen", "name": "Renamed"})
        return [n1, n2, n3, upd.pk, created, patients()]

    @s.step("13 bulk update (rolled back)")
    def _():
        # bulk_update writes CAST(CASE WHEN id = 2 THEN '…' … END AS type):
        # phiguard encrypts each THEN value and cuts the CAST (docs/orm.md).
        # Rolled back on both sides, so that the steps after it start from
        # the same rows.
        with transaction.atomic():
            ps = list(Patient.objects.filter(ssn__in=["987-65-4321", "555-12-9999"]).order_by("id"))
            for i, p in enumerate(ps):
                p.name = "%s (bulk %d)" % (p.name, i)
                p.birthdate = datetime.date(1950 + i, 1, 31)
                p.balance = decimal.Decimal("-%d.5" % (i + 1))
            Patient.objects.bulk_update(ps, ["name", "birthdate", "balance"])
            out = patients(Patient.objects.filter(pk__in=[p.pk for p in ps]))
            transaction.set_rollback(True)
        return out

    @s.step("14 bulk create")
    def _():
        made = Patient.objects.bulk_create(
            [Patient(name=n, ssn=ssn, birthdate=b, balance=bal, city=city, active=act, mrn=mrn, registered=reg)
             for n, ssn, b, bal, city, act, mrn, reg in common.BULK])
        Visit.objects.bulk_create(
            [Visit(patient=p, day=datetime.date(2024, 3, 1), kind="intake", notes="bulk %s" % p.ssn) for p in made])
        return [[p.pk for p in made], patients(Patient.objects.filter(ssn__in=[b[1] for b in common.BULK]))]

    @s.step("15 delete: instance with cascade, queryset")
    def _():
        p = Patient.objects.get(ssn="111-22-3333")
        d1 = p.delete()
        d2 = Patient.objects.filter(ssn__in=["900-00-0003", "900-00-0004"]).delete()
        d3 = Visit.objects.filter(kind="intake", patient__city="Lima").delete()
        return [d1, d2, d3, patients()]

    @s.step("16 aggregate counts")
    def _():
        return [
            Patient.objects.count(),
            Patient.objects.filter(city="Paris").count(),
            Patient.objects.filter(ssn="900-00-0001").count(),
            Patient.objects.filter(active=True, city="London").count(),
            list(Patient.objects.values("city").annotate(n=Count("id")).order_by("city")),
            list(Patient.objects.values("active").annotate(n=Count("id")).order_by("active")),
            list(Patient.objects.annotate(n=Count("visits")).order_by("id").values("id", "ssn", "n")),
            Visit.objects.filter(patient__ssn="123-45-6789").count(),
            Patient.objects.filter(ssn="123-45-6789").exists(),
            Patient.objects.aggregate(n=Count("id"), cities=Count("city", distinct=True)),
        ]

    @s.step("17 read all at the end")
    def _():
        return [patients(),
                list(Visit.objects.order_by("id").values("id", "patient_id", "day", "kind", "notes")),
                list(Address.objects.order_by("id").values("id", "patient_id", "street", "zip"))]

    # Probes: aggregates and grouping over the encrypted columns themselves,
    # beyond what issue 12 asks. Each must give PostgreSQL's answer or be
    # refused (0A000), never another answer: a randomized column's cells
    # all differ, so DISTINCT or GROUP BY over them would count wrong.
    def probe(name, fn):
        s.step("probe " + name)(lambda: sorted(fn(), key=repr))

    probe("count non-null birthdate, mrn", lambda: [
        Patient.objects.filter(birthdate__isnull=False).count(),
        Patient.objects.aggregate(n=Count("mrn"))["n"]])
    probe("count distinct ssn (deterministic)", lambda: [Patient.objects.aggregate(n=Count("ssn", distinct=True))["n"]])
    probe("count distinct name (randomized)", lambda: [Patient.objects.aggregate(n=Count("name", distinct=True))["n"]])
    probe("group by ssn (deterministic)",
          lambda: list(Patient.objects.values("ssn").annotate(n=Count("id")).order_by()))
    probe("group by birthdate (randomized)",
          lambda: list(Patient.objects.values("birthdate").annotate(n=Count("id")).order_by()))
    probe("distinct city, active", lambda: list(Patient.objects.values_list("city", "active").distinct()))
    probe("distinct balance (randomized)", lambda: list(Patient.objects.values_list("balance", flat=True).distinct()))
    probe("max birthdate (randomized)", lambda: [Patient.objects.aggregate(m=Max("birthdate"))["m"]])

    s.dump()


if __name__ == "__main__":
    {"schema": schema, "run": run}[sys.argv[1]]()
