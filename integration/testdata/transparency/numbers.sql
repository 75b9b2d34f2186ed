-- The transparency check's hand-written corpus: numbers and other literal
-- spellings against encrypted integer, numeric, date and timestamptz
-- columns. An unquoted 1.0 or 2.5 is a numeric constant: compared with an
-- integer column, the column's value is converted (1.0 equals 1, 1.5 and
-- 10000000000 equal nothing); stored in one, it is rounded half away from
-- zero. Its cases found ten different answers (issue 12, docs/testing-rls-oracle.md).

SELECT e.id FROM encounters e WHERE e.total_claim_cost = 897.650 ORDER BY e.id;

SELECT e.id FROM encounters e WHERE e.total_claim_cost = '897.650' ORDER BY e.id;

SELECT m.id FROM medications m WHERE m.dispenses = 1.0 ORDER BY m.id LIMIT 5;

SELECT m.id FROM medications m WHERE m.dispenses = '1' ORDER BY m.id LIMIT 5;

SELECT m.id FROM medications m WHERE m.dispenses = 1.5 ORDER BY m.id LIMIT 5;

SELECT m.id FROM medications m WHERE m.dispenses = 10000000000 ORDER BY m.id LIMIT 5;

SELECT p.id FROM patients p WHERE p.deathdate = '1981-11-07 00:00:00';

SELECT p.id FROM patients p WHERE p.deathdate = '1981-11-07'::timestamp;

SELECT p.id FROM patients p WHERE p.healthcare_expenses = 5982.12::float8;

SELECT p.id FROM patients p WHERE p.healthcare_expenses IN (5982.12, 11371.120);

SELECT p.id FROM patients p WHERE p.ssn = 'X';

INSERT INTO medications (id, start, patient, payer, encounter, code, dispenses) VALUES (900001, '2024-01-01 10:00:00+02', '982192b6-6843-4011-ef46-32caaf87d8a9', 'e03e23c9-4df1-3eb6-a62d-f70f02301496', '3c1c5636-2c43-bd4b-6eab-9eabf5929c55', '308192', '3') RETURNING start, dispenses;

INSERT INTO medications (id, start, patient, payer, encounter, code, dispenses) VALUES (900002, TIMESTAMPTZ '2024-01-01 10:00:00', '982192b6-6843-4011-ef46-32caaf87d8a9', 'e03e23c9-4df1-3eb6-a62d-f70f02301496', '3c1c5636-2c43-bd4b-6eab-9eabf5929c55', '308192', 3.0) RETURNING start, dispenses;

INSERT INTO medications (id, start, patient, payer, encounter, code, dispenses) VALUES (900003, '2024-01-01T10:00:00Z'::timestamptz, '982192b6-6843-4011-ef46-32caaf87d8a9', 'e03e23c9-4df1-3eb6-a62d-f70f02301496', '3c1c5636-2c43-bd4b-6eab-9eabf5929c55', '308192', 2.5) RETURNING start, dispenses;

INSERT INTO medications (id, start, patient, payer, encounter, code) VALUES (900004, '2024-01-01', '982192b6-6843-4011-ef46-32caaf87d8a9', 'e03e23c9-4df1-3eb6-a62d-f70f02301496', '3c1c5636-2c43-bd4b-6eab-9eabf5929c55', '308192') RETURNING start;

INSERT INTO patients (id, birthdate, ssn, first, last, gender, healthcare_expenses, income) VALUES ('00000000-0000-0000-0000-0000000000f1', '1980-02-29', '999-00-0101', 'Ed', 'Ge', 'F', 1e3, '+7') RETURNING healthcare_expenses, income;

INSERT INTO patients (id, birthdate, ssn, first, last, gender, healthcare_expenses) VALUES ('00000000-0000-0000-0000-0000000000f2', '1980-02-29', '999-00-0102', 'Ed', 'Ge', 'F', 'NaN') RETURNING healthcare_expenses;

INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ('00000000-0000-0000-0000-0000000000f3', 'infinity', '999-00-0103', 'Ed', 'Ge', 'F') RETURNING birthdate;

INSERT INTO patients (id, birthdate, ssn, first, last, gender, income) VALUES ('00000000-0000-0000-0000-0000000000f4', '1980-02-29', '999-00-0104', 'Ed', 'Ge', 'F', ' 42 ') RETURNING income;

UPDATE encounters SET stop = '2022-07-20 08:00:00+00' WHERE id = '3c1c5636-2c43-bd4b-6eab-9eabf5929c55' AND patient = '982192b6-6843-4011-ef46-32caaf87d8a9' RETURNING stop;

UPDATE encounters SET stop = NULL, reasondescription = 'x' WHERE id = '3c1c5636-2c43-bd4b-6eab-9eabf5929c55' AND patient = '982192b6-6843-4011-ef46-32caaf87d8a9' RETURNING stop, reasondescription;

-- Numbers compared with numeric(14,2), text and date columns: exact, or
-- PostgreSQL's 42883; other spellings and forms of equality.

SELECT p.id FROM patients p WHERE p.healthcare_expenses = 5982.1200001;

SELECT p.id FROM patients p WHERE p.healthcare_expenses = 5982.124;

SELECT p.id FROM patients p WHERE p.healthcare_expenses = '5982.124';

SELECT p.id FROM patients p WHERE p.healthcare_expenses = 5982.12000;

SELECT p.id FROM patients p WHERE p.ssn = 999;

SELECT p.id FROM patients p WHERE p.deathdate = 19811107;

SELECT p.id FROM patients p WHERE p.deathdate = '19811107';

SELECT p.id FROM patients p WHERE p.deathdate = '1981-11-7';

SELECT p.id FROM patients p WHERE p.ssn = ANY(ARRAY['999-49-3983']);

SELECT p.id FROM patients p WHERE p.ssn = ANY('{999-49-3983}');

SELECT p.id FROM patients p WHERE (p.ssn) = ('999-49-3983');

SELECT p.id FROM patients p WHERE '999-49-3983' = p.ssn;

SELECT p.id FROM patients p WHERE p.ssn = '999-49-3983' OR p.ssn = '999-17-9786' ORDER BY p.id;

SELECT count(*) FROM patients p WHERE NOT (p.ssn = '999-49-3983');

SELECT count(*) FROM patients p WHERE p.ssn != '999-49-3983';

SELECT count(*) FROM patients p WHERE p.ssn = NULL;

SELECT count(*) FROM patients p WHERE p.deathdate IS DISTINCT FROM '1981-11-07';

SELECT count(*) FROM patients p WHERE p.ssn IN (SELECT q.ssn FROM patients q WHERE q.gender = 'F');

SELECT count(DISTINCT p.ssn), count(DISTINCT p.deathdate) FROM patients p;

SELECT p.ssn FROM patients p WHERE p.ssn = '999-49-3983 ';

SELECT p.id FROM patients p WHERE p.income = 71204;

SELECT m.id FROM medications m WHERE m.dispenses = '01' ORDER BY m.id LIMIT 3;

SELECT m.id FROM medications m WHERE m.dispenses = ' 1' ORDER BY m.id LIMIT 3;

SELECT m.id FROM medications m WHERE m.dispenses = 1::bigint ORDER BY m.id LIMIT 3;

SELECT m.id FROM medications m WHERE m.dispenses = 1::smallint ORDER BY m.id LIMIT 3;

SELECT e.id FROM encounters e WHERE e.total_claim_cost = 897.65::numeric(10,1);

SELECT e.id FROM encounters e WHERE e.total_claim_cost = -0;

SELECT p.id FROM patients p WHERE p.deathdate = DATE '1981-11-07' + 0;

INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ('00000000-0000-0000-0000-0000000000f5', 19800229, '999-00-0105', 'Ed', 'Ge', 'F');

INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ('00000000-0000-0000-0000-0000000000f6', '1980-02-29', 999000106, 'Ed', 'Ge', 'F') RETURNING ssn;

INSERT INTO patients (id, birthdate, ssn, first, last, gender, healthcare_expenses) VALUES ('00000000-0000-0000-0000-0000000000f7', '1980-02-29', '999-00-0107', 'Ed', 'Ge', 'F', 5982.124) RETURNING healthcare_expenses;
