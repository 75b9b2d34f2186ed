-- The transparency check's hand-written corpus: numbers and other literal
-- spellings against encrypted integer, numeric, date and timestamptz
-- columns. An unquoted 1.0 or 2.5 is a numeric constant: compared with an
-- integer column, the column's value is converted (1.0 equals 1, 1.5 and
-- 10000000000 equal nothing); stored in one, it is rounded half away from
-- zero. The first version of this file found all five different answers.

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
