-- The transparency check's hand-written corpus: everyday writes, each in
-- a transaction that is rolled back, followed by a read of what they
-- left. Tables with an identity column get explicit ids: a write phiguard
-- refuses does not draw from the sequence, one PostgreSQL runs does, and
-- the ids of later cases would differ for that reason alone.

INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ('00000000-0000-0000-0000-000000000001', '1980-02-29', '999-00-0001', 'Ann', 'Example', 'F');
SELECT * FROM patients WHERE id = '00000000-0000-0000-0000-000000000001';

INSERT INTO patients (id, birthdate, ssn, first, last, gender, income, healthcare_expenses, healthcare_coverage, deathdate)
VALUES ('00000000-0000-0000-0000-000000000002', DATE '1980-02-29', '999-00-0002'::text, E'Bo\'b', $$O'Neil$$, 'M', -5, -0.05, 1234.5, NULL)
RETURNING id, birthdate, ssn, first, last, income, healthcare_expenses, healthcare_coverage, deathdate;

INSERT INTO patients (id, birthdate, ssn, first, last, gender, income, healthcare_expenses)
VALUES ('00000000-0000-0000-0000-000000000003', '1980-02-29'::date, CAST('999-00-0003' AS text), 'Cy', 'Example', 'M', 42::int4, '1234.56'::numeric)
RETURNING *;

INSERT INTO patients (id, birthdate, ssn, first, last, gender, income, healthcare_expenses)
VALUES ('00000000-0000-0000-0000-000000000004', '1980-02-29', '999-00-0004', 'Di', 'Example', 'F', '77', '12.3');
SELECT p.id, p.income, p.healthcare_expenses FROM patients p WHERE p.id = '00000000-0000-0000-0000-000000000004';

INSERT INTO patients VALUES ('00000000-0000-0000-0000-000000000005', '1999-12-31', NULL, '999-00-0005', NULL, NULL, NULL, 'Ed', 'Example', NULL, NULL, NULL, NULL, NULL, 'M', NULL, NULL, 'Omaha', 'Nebraska', NULL, NULL, NULL, NULL, NULL, 10.00, 0.00, 50000);
SELECT * FROM patients p WHERE p.id = '00000000-0000-0000-0000-000000000005';

INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ('00000000-0000-0000-0000-000000000006', '1980-02-29', '999-00-0006', 'Fay', 'Example', 'F'), ('00000000-0000-0000-0000-000000000007', '1981-03-01', '999-00-0007', 'Gus', 'Example', 'M');
SELECT p.id, p.birthdate, p.ssn FROM patients p WHERE p.last = 'Example' ORDER BY p.id;

INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ('00000000-0000-0000-0000-000000000008', '1980-02-29', '999-00-0008', 'Hal', 'Example', 'M');
SELECT count(*) FROM patients p WHERE p.ssn = '999-00-0008';

INSERT INTO export_ids DEFAULT VALUES;
SELECT count(*) FROM export_ids;

INSERT INTO export_ids VALUES ('982192b6-6843-4011-ef46-32caaf87d8a9') RETURNING *;

INSERT INTO clinical_notes (id, patient, author, note) VALUES (100001, '982192b6-6843-4011-ef46-32caaf87d8a9', 'dr_alice', 'Seen.') RETURNING id, note;

UPDATE patients SET first = 'Alicia' WHERE id = '982192b6-6843-4011-ef46-32caaf87d8a9';
SELECT p.id, p.first, p.last FROM patients p WHERE p.id = '982192b6-6843-4011-ef46-32caaf87d8a9';

UPDATE patients SET birthdate = '2022-07-21', income = 71205, healthcare_expenses = 5982.13 WHERE id = '982192b6-6843-4011-ef46-32caaf87d8a9' RETURNING birthdate, income, healthcare_expenses;

UPDATE patients SET deathdate = NULL WHERE id = 'b46882a6-fa1b-2ec5-70c6-84c57a307f20' RETURNING id, deathdate;

UPDATE patients SET city = 'Lincoln' WHERE ssn = '999-17-9786';
SELECT p.id, p.city FROM patients p WHERE p.ssn = '999-17-9786';

UPDATE patients SET gender = gender WHERE state = 'Nebraska';

UPDATE encounters SET total_claim_cost = 1.50 WHERE id = '3c1c5636-2c43-bd4b-6eab-9eabf5929c55' AND patient = '982192b6-6843-4011-ef46-32caaf87d8a9' RETURNING id, total_claim_cost;

UPDATE encounters SET description = 'checked' WHERE patient = '982192b6-6843-4011-ef46-32caaf87d8a9';

DELETE FROM care_teams WHERE clinician = 'dr_bob';
SELECT count(*) FROM care_teams;

DELETE FROM clinical_notes WHERE patient = '982192b6-6843-4011-ef46-32caaf87d8a9' RETURNING patient, author;

DELETE FROM medications WHERE patient = '2de0b259-6c63-700d-9ac4-edcabff0861a' RETURNING id, start, dispenses;

DELETE FROM patients WHERE ssn = '999-00-0000';

INSERT INTO consents (patient, purpose, granted) VALUES ('982192b6-6843-4011-ef46-32caaf87d8a9', 'billing', true) ON CONFLICT DO NOTHING RETURNING *;

INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ('982192b6-6843-4011-ef46-32caaf87d8a9', '1980-02-29', '999-00-0009', 'Dup', 'Example', 'F');

INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ('00000000-0000-0000-0000-00000000000a', 'not a date', '999-00-0010', 'Bad', 'Example', 'F');

INSERT INTO patients (id, birthdate, ssn, first, last, gender, income) VALUES ('00000000-0000-0000-0000-00000000000b', '1980-02-29', '999-00-0011', 'Big', 'Example', 'F', 99999999999);

INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ('00000000-0000-0000-0000-00000000000c', '1980-02-29', NULL, 'Nul', 'Example', 'F');

INSERT INTO patients (id, birthdate, ssn, first, last, gender, healthcare_expenses) VALUES ('00000000-0000-0000-0000-00000000000d', '1980-02-29', '999-00-0013', 'Wide', 'Example', 'F', 123456789012345.67);

INSERT INTO patients (id, birthdate, ssn, first, last, gender, healthcare_expenses) VALUES ('00000000-0000-0000-0000-00000000000e', '1980-02-29', '999-00-0014', 'Round', 'Example', 'F', 1.005) RETURNING healthcare_expenses;

INSERT INTO medications (start, patient, payer, encounter, code, dispenses) SELECT '2024-01-01 10:00:00+00', e.patient, e.payer, e.id, '308192', 3 FROM encounters e WHERE e.id = '3c1c5636-2c43-bd4b-6eab-9eabf5929c55';
