"""The SQLAlchemy workload: the same Patient, Visit and Address model as the
Django one, mapped with SQLAlchemy's declarative ORM and run through its
Session (unit of work, relationships, query API). `sqlalchemy_workload.py
schema` creates the tables with metadata.create_all; `sqlalchemy_workload.py
run` runs the workload and prints each step's result as JSON (common.py).
PHIGUARD_ORM_URL says where to connect.
"""

import datetime
import decimal
import logging
import os
import sys

from sqlalchemy import (BigInteger, Boolean, Column, Date, DateTime, ForeignKey, Integer, Numeric, String, Text, create_engine, func,
                        insert, or_, select)
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, declarative_base, joinedload, relationship, selectinload

import common

Base = declarative_base()


class Patient(Base):
    __tablename__ = "patient"
    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    ssn = Column(String(11), nullable=False, index=True)
    birthdate = Column(Date)
    balance = Column(Numeric(12, 2))
    city = Column(String(40), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    mrn = Column(BigInteger)
    registered = Column(DateTime(timezone=True))
    visits = relationship("Visit", back_populates="patient", cascade="all, delete-orphan", order_by="Visit.id")
    addresses = relationship("Address", back_populates="patient", cascade="all, delete-orphan", order_by="Address.id")


class Visit(Base):
    __tablename__ = "visit"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patient.id", ondelete="CASCADE"), nullable=False)
    day = Column(Date, nullable=False)
    kind = Column(String(20), nullable=False)
    notes = Column(Text, nullable=False)
    patient = relationship("Patient", back_populates="visits")


class Address(Base):
    __tablename__ = "address"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patient.id", ondelete="CASCADE"), nullable=False)
    street = Column(String(100), nullable=False)
    zip = Column(String(10), nullable=False)
    patient = relationship("Patient", back_populates="addresses")


def engine():
    c = common.dsn()
    url = URL.create("postgresql+psycopg2", username=c["user"], password=c["password"], host=c["host"],
                     port=c["port"], database=c["dbname"], query={"sslmode": c["sslmode"],
                                                            # Times are read in the session's zone.
                                                            "options": "-c TimeZone=America/New_York"})
    if os.environ.get("PHIGUARD_ORM_SQL"):
        # Every statement SQLAlchemy sends, with its parameters, on stderr.
        logging.basicConfig(stream=sys.stderr)
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    return create_engine(url, future=True)


def schema():
    Base.metadata.create_all(engine())


def row(p):
    return {"id": p.id, "name": p.name, "ssn": p.ssn, "birthdate": p.birthdate, "balance": p.balance,
            "city": p.city, "active": p.active, "mrn": p.mrn, "registered": p.registered}


def patients(db, *where):
    return [row(p) for p in db.scalars(select(Patient).where(*where).order_by(Patient.id))]


def run():
    db = Session(engine(), future=True)
    s = common.Steps(on_error=db.rollback)

    @s.step("01 create with related rows")
    def _():
        made = []
        for i, (name, ssn, born, bal, city, active, mrn, reg) in enumerate(common.PATIENTS):
            p = Patient(name=name, ssn=ssn, birthdate=born, balance=bal, city=city, active=active, mrn=mrn,
                        registered=reg)
            p.visits = [Visit(day=datetime.date(2024, 1, 1 + i), kind="checkup", notes="note for %s" % name),
                        Visit(day=datetime.date(2024, 2, 1 + i), kind="lab", notes="")]
            p.addresses = [Address(street="%d Main St" % (i + 1), zip="1000%d" % i)]
            db.add(p)
            db.commit()
            made.append([p.id, type(p.birthdate).__name__, type(p.balance).__name__])
        return made

    @s.step("02 read all")
    def _():
        db.expire_all()
        return patients(db)

    @s.step("03 get by pk and refresh")
    def _():
        p = db.get(Patient, 2)
        db.refresh(p)
        return [p.name, p.ssn, p.birthdate, p.balance, p.mrn, p.registered,
                type(p.birthdate).__name__, type(p.balance).__name__, type(p.registered).__name__]

    @s.step("04 read with a server-side cursor")
    def _():
        # stream_results reads through a named cursor (DECLARE, FETCH).
        q = select(Patient).order_by(Patient.id).execution_options(stream_results=True, yield_per=3)
        return [row(p) for p in db.scalars(q)]

    @s.step("05 filter ssn equal")
    def _():
        return patients(db, Patient.ssn == "987-65-4321")

    @s.step("06 filter mrn equal")
    def _():
        return [patients(db, Patient.mrn == 10002), patients(db, Patient.mrn == -3),
                patients(db, Patient.mrn.in_([10001, 99])), patients(db, Patient.mrn.is_(None))]

    @s.step("07 filter ssn in, not equal")
    def _():
        return [patients(db, Patient.ssn.in_(["123-45-6789", "111-22-3333", "000-00-0000"])),
                patients(db, Patient.ssn != "123-45-6789")]

    @s.step("08 one by ssn, filter_by")
    def _():
        got = db.execute(select(Patient).filter_by(ssn="555-12-0000")).scalar_one()
        missing = db.execute(select(Patient).filter_by(ssn="222-33-4444")).scalar_one_or_none()
        db.add(Patient(name="New One", ssn="222-33-4444", city="Oslo", birthdate=datetime.date(1999, 9, 9),
                       balance=decimal.Decimal("10.10")))
        db.commit()
        new = db.execute(select(Patient).filter_by(ssn="222-33-4444")).scalar_one()
        return [got.id, got.name, missing, new.id, new.birthdate, new.balance]

    @s.step("09 filter plaintext columns")
    def _():
        return [patients(db, Patient.city == "London"),
                patients(db, Patient.active.is_(False)),
                patients(db, or_(Patient.city == "Paris", Patient.city == "Oslo"), Patient.active.is_(True))]

    @s.step("10 related: join on patient ssn, joinedload, selectinload")
    def _():
        by_ssn = [[v.id, v.day, v.kind, v.notes] for v in db.scalars(
            select(Visit).join(Visit.patient).where(Patient.ssn == "123-45-6789").order_by(Visit.id))]
        db.expire_all()
        joined = [[v.id, v.kind, v.patient.name, v.patient.ssn, v.patient.birthdate, v.patient.balance]
                  for v in db.scalars(select(Visit).options(joinedload(Visit.patient)).order_by(Visit.id))]
        db.expire_all()
        pre = [[p.id, [a.street for a in p.addresses], [v.notes for v in p.visits]] for p in db.scalars(
            select(Patient).options(selectinload(Patient.addresses), selectinload(Patient.visits)).order_by(Patient.id))]
        return [by_ssn, joined, pre]

    @s.step("11 update: unit of work, bulk update")
    def _():
        p = db.execute(select(Patient).filter_by(ssn="987-65-4321")).scalar_one()
        p.name = "Alan M. Turing"
        p.balance = decimal.Decimal("-17.25")
        p.birthdate = datetime.date(1912, 6, 24)
        p.registered = datetime.datetime(2024, 11, 3, 1, 30)  # naive: the session's zone, the first 01:30
        db.commit()
        n1 = db.query(Patient).filter(Patient.ssn == "123-45-6789").update(
            {"balance": decimal.Decimal("99.99"), "city": "Paris"}, synchronize_session="evaluate")
        n2 = db.query(Patient).filter(Patient.city == "New York").update(
            {"name": "Rear Adm. Grace Hopper", "ssn": "555-12-9999"}, synchronize_session="fetch")
        n3 = db.query(Visit).filter(Visit.kind == "lab").update({"notes": "lab results pending"},
                                                                synchronize_session=False)
        db.commit()
        a = db.scalars(select(Address).join(Address.patient).where(Patient.ssn == "555-12-9999")).one()
        a.street = "1 Navy Yard"
        db.commit()
        db.expire_all()
        return [n1, n2, n3, patients(db)]

    @s.step("12 bulk mappings, merge, Core insert returning")
    def _():
        db.bulk_insert_mappings(Patient, [
            {"name": "Map %d" % i, "ssn": "800-00-000%d" % i, "birthdate": datetime.date(1990, 2, i + 1),
             "balance": decimal.Decimal("%d.75" % i), "city": "Oslo", "active": True} for i in range(3)])
        db.commit()
        ids = db.scalars(select(Patient.id).where(Patient.ssn.in_(["800-00-0000", "800-00-0001"])).order_by(Patient.id)).all()
        db.bulk_update_mappings(Patient, [
            {"id": ids[0], "name": "Mapped 0", "balance": decimal.Decimal("-3.10")},
            {"id": ids[1], "name": "Mapped 1", "birthdate": datetime.date(1991, 3, 4)}])
        merged = db.merge(Patient(id=ids[0], name="Merged 0", ssn="800-00-0000", city="Oslo", active=False,
                                  birthdate=datetime.date(1990, 2, 1), balance=decimal.Decimal("5")))
        db.commit()
        core = db.execute(insert(Patient.__table__).values([
            {"name": "Core %d" % i, "ssn": "700-00-000%d" % i, "birthdate": datetime.date(1980, 1, i + 1),
             "balance": decimal.Decimal("-%d" % i), "city": "Lima", "active": False} for i in range(2)])
            .returning(Patient.id, Patient.ssn, Patient.name, Patient.birthdate, Patient.balance)).all()
        db.commit()
        db.expire_all()
        return [merged.id, [list(r) for r in core],
                patients(db, or_(Patient.ssn.in_(["800-00-000%d" % i for i in range(3)]),
                                 Patient.id.in_([r[0] for r in core])))]

    @s.step("13 bulk create")
    def _():
        made = [Patient(name=n, ssn=ssn, birthdate=b, balance=bal, city=city, active=act, mrn=mrn, registered=reg)
                for n, ssn, b, bal, city, act, mrn, reg in common.BULK]
        db.add_all(made)
        db.flush()
        db.add_all([Visit(patient_id=p.id, day=datetime.date(2024, 3, 1), kind="intake", notes="bulk %s" % p.ssn)
                    for p in made])
        db.commit()
        db.expire_all()
        return [[p.id for p in made], patients(db, Patient.ssn.in_([b[1] for b in common.BULK]))]

    @s.step("14 delete: instance with cascade, bulk delete")
    def _():
        p = db.execute(select(Patient).filter_by(ssn="111-22-3333")).scalar_one()
        db.delete(p)
        db.commit()
        d2 = db.query(Patient).filter(Patient.ssn.in_(["900-00-0003", "900-00-0004"])).delete(
            synchronize_session="fetch")
        lima = select(Patient.id).where(Patient.city == "Lima").scalar_subquery()
        d3 = db.query(Visit).filter(Visit.kind == "intake", Visit.patient_id.in_(lima)).delete(
            synchronize_session=False)
        db.commit()
        db.expire_all()
        return [d2, d3, patients(db)]

    @s.step("15 aggregate counts")
    def _():
        count = lambda q: db.scalar(select(func.count()).select_from(q.subquery()))  # noqa: E731
        return [
            db.query(Patient).count(),
            db.scalar(select(func.count(Patient.id)).where(Patient.city == "Paris")),
            count(select(Patient).where(Patient.ssn == "900-00-0001")),
            db.query(Patient).filter_by(active=True, city="London").count(),
            [list(r) for r in db.execute(
                select(Patient.city, func.count(Patient.id)).group_by(Patient.city).order_by(Patient.city))],
            [list(r) for r in db.execute(
                select(Patient.active, func.count()).group_by(Patient.active).order_by(Patient.active))],
            [list(r) for r in db.execute(
                select(Patient.id, Patient.ssn, func.count(Visit.id)).outerjoin(Patient.visits)
                .group_by(Patient.id, Patient.ssn).order_by(Patient.id))],
            db.scalar(select(func.count()).select_from(Visit).join(Visit.patient).where(Patient.ssn == "123-45-6789")),
            db.query(db.query(Patient).filter(Patient.ssn == "123-45-6789").exists()).scalar(),
            list(db.execute(select(func.count(Patient.id), func.count(Patient.city.distinct()))).one()),
        ]

    @s.step("16 read all at the end")
    def _():
        db.expire_all()
        return [patients(db),
                [[v.id, v.patient_id, v.day, v.kind, v.notes] for v in db.scalars(select(Visit).order_by(Visit.id))],
                [[a.id, a.patient_id, a.street, a.zip] for a in db.scalars(select(Address).order_by(Address.id))]]

    # Probes, as in the Django workload: PostgreSQL's answer or 0A000.
    def probe(name, stmt):
        s.step("probe " + name)(lambda: sorted([list(r) for r in db.execute(stmt)], key=repr))

    probe("count non-null birthdate, mrn", select(func.count(Patient.birthdate), func.count(Patient.mrn)))
    probe("count distinct ssn (deterministic)", select(func.count(Patient.ssn.distinct())))
    probe("count distinct name (randomized)", select(func.count(Patient.name.distinct())))
    probe("group by ssn (deterministic)", select(Patient.ssn, func.count()).group_by(Patient.ssn))
    probe("group by birthdate (randomized)", select(Patient.birthdate, func.count()).group_by(Patient.birthdate))
    probe("distinct city, active", select(Patient.city, Patient.active).distinct())
    probe("distinct balance (randomized)", select(Patient.balance).distinct())
    probe("max birthdate (randomized)", select(func.max(Patient.birthdate)))

    db.close()
    s.dump()


if __name__ == "__main__":
    {"schema": schema, "run": run}[sys.argv[1]]()
