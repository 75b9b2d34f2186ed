-- The transparency check's hand-written corpus (TestTransparencyCorpus):
-- everyday reads of the demo EHR. A case is a paragraph of statements
-- (each ending with a semicolon at the end of a line), run in a
-- transaction that is rolled back, once through phiguard on the encrypted
-- database and once straight on the plaintext one; every result must be
-- the same, or phiguard must refuse with 0A000.

SELECT * FROM patients WHERE id = '982192b6-6843-4011-ef46-32caaf87d8a9';

SELECT id, first, last, birthdate, ssn FROM patients ORDER BY id;

SELECT * FROM patients ORDER BY id LIMIT 5;

SELECT p.ssn, p.first, p.last FROM patients p WHERE p.ssn = '999-49-3983';

SELECT p.id FROM patients p WHERE p.ssn IN ('999-49-3983', '999-17-9786', '000-00-0000') ORDER BY p.id;

SELECT p.id, p.deathdate FROM patients p WHERE p.deathdate = '1981-11-07';

SELECT p.id, p.deathdate FROM patients p WHERE p.deathdate = DATE '1981-11-07';

SELECT p.id FROM patients p WHERE p.healthcare_expenses = 5982.12;

SELECT p.id FROM patients p WHERE p.healthcare_expenses = '5982.12';

SELECT p.id, p.passport FROM patients p WHERE p.passport IS NOT NULL ORDER BY p.id;

SELECT count(*) FROM patients p WHERE p.drivers IS NULL;

SELECT count(*) FROM patients;

SELECT count(*), count(p.maiden), count(p.deathdate) FROM patients p;

SELECT p.gender, count(*) FROM patients p GROUP BY p.gender ORDER BY p.gender;

SELECT p.city, count(*) AS n FROM patients p GROUP BY p.city HAVING count(*) > 2 ORDER BY n DESC, p.city;

SELECT min(p.lat), max(p.lon), avg(p.lat) FROM patients p;

SELECT p.id, p.first || ' ' || p.last AS name FROM patients p ORDER BY p.id LIMIT 3;

SELECT p.id, p.birthdate, p.birthdate::text, CAST(p.income AS bigint) FROM patients p ORDER BY p.id LIMIT 10;

SELECT p.id, p.income, p.healthcare_expenses, p.healthcare_coverage FROM patients p ORDER BY p.id;

SELECT p.ssn, count(*) FROM patients p GROUP BY p.ssn ORDER BY count(*) DESC, p.ssn LIMIT 5;

SELECT DISTINCT p.deathdate FROM patients p;

SELECT e.id, e.start, e.stop, e.total_claim_cost, e.reasondescription FROM encounters e WHERE e.patient = '982192b6-6843-4011-ef46-32caaf87d8a9' ORDER BY e.start, e.id;

SELECT e.id, e.total_claim_cost FROM encounters e WHERE e.total_claim_cost = 897.65 ORDER BY e.id;

SELECT e.encounterclass, count(*), sum(e.base_encounter_cost) FROM encounters e GROUP BY e.encounterclass ORDER BY 1;

SELECT m.id, m.start, m.dispenses, m.code FROM medications m WHERE m.patient = '2de0b259-6c63-700d-9ac4-edcabff0861a' ORDER BY m.id;

SELECT m.id FROM medications m WHERE m.dispenses = 1 ORDER BY m.id LIMIT 20;

SELECT p.id, p.first, e.id AS encounter, e.stop FROM patients p JOIN encounters e ON e.patient = p.id WHERE p.id = '2de0b259-6c63-700d-9ac4-edcabff0861a' ORDER BY e.id;

SELECT p.id, count(e.id) FROM patients p LEFT JOIN encounters e ON e.patient = p.id GROUP BY p.id ORDER BY p.id;

WITH recent AS (SELECT e.patient, max(e.start) AS last_seen FROM encounters e GROUP BY e.patient)
SELECT p.id, p.last, r.last_seen FROM patients p JOIN recent r ON r.patient = p.id ORDER BY p.id LIMIT 10;

SELECT p.id, p.ssn FROM patients p WHERE p.id IN (SELECT c.patient FROM conditions c WHERE c.code = '44054006') ORDER BY p.id;

SELECT p.id, (SELECT count(*) FROM encounters e WHERE e.patient = p.id) AS visits FROM patients p ORDER BY p.id LIMIT 10;

SELECT EXISTS (SELECT 1 FROM patients p WHERE p.ssn = '999-49-3983');

SELECT p.id FROM patients p WHERE p.ssn = '999-49-3983' AND p.gender = 'F';

SELECT p.id, p.birthdate FROM patients p WHERE p.birthdate IS NULL;

SELECT 1 AS one, 'x'::text AS two, NULL::date AS three, -5 AS four, -0.05 AS five;

SELECT p.id FROM patients p WHERE p.ssn = $$999-49-3983$$;

SELECT p.id FROM patients p WHERE p.ssn = E'999-49-3983';

SELECT p.id FROM patients p WHERE p.ssn = '999-49-3983'::text;

SELECT p.id FROM patients p WHERE p.deathdate = '1981-11-07'::date;

SELECT p.id FROM patients p WHERE p.deathdate = CAST('1981-11-07' AS date);

SELECT p.first FROM patients p ORDER BY p.first LIMIT 5;

SELECT p.id FROM patients p WHERE p.last LIKE 'Gleason%';

SELECT p.id, lower(p.first) FROM patients p ORDER BY p.id LIMIT 3;

SELECT p.id FROM patients p WHERE p.birthdate > '2000-01-01' ORDER BY p.id;

SELECT p.id FROM patients p WHERE p.income > 50000 ORDER BY p.id;

SELECT max(p.birthdate) FROM patients p;

SELECT ps.id, ps.first, ps.last FROM patient_summary ps ORDER BY ps.id LIMIT 5;

SELECT p.id, p.first FROM patients p ORDER BY p.id LIMIT 3 OFFSET 2;

TABLE payers;

VALUES (1, 'a'), (2, NULL);

SHOW DateStyle;

SELECT ec.patient, ec.n FROM encounter_counts ec ORDER BY ec.patient LIMIT 5;

SELECT patient_city('982192b6-6843-4011-ef46-32caaf87d8a9');

CREATE TEMP VIEW plain_cities AS SELECT p.id, p.city FROM patients p;
SELECT * FROM plain_cities ORDER BY id LIMIT 3;

CREATE TEMP VIEW names AS SELECT p.id, p.first FROM patients p;
SELECT * FROM names ORDER BY id LIMIT 3;

-- Other ways to read an encrypted column: whole rows, set operations,
-- derived tables, CTEs, scalar subqueries, aliases, PREPARE, cursors, COPY.

SELECT p.id FROM patients p WHERE p.ssn = $$999-49-3983$$;

SELECT p.id, p.birthdate FROM patients p WHERE p.id = '982192b6-6843-4011-ef46-32caaf87d8a9' FOR UPDATE;

SELECT row_to_json(p) FROM patients p WHERE p.id = '982192b6-6843-4011-ef46-32caaf87d8a9';

SELECT p FROM patients p WHERE p.id = '982192b6-6843-4011-ef46-32caaf87d8a9';

SELECT p.first FROM patients p WHERE p.id = '982192b6-6843-4011-ef46-32caaf87d8a9' UNION ALL SELECT 'x';

SELECT x.first FROM (SELECT p.first FROM patients p WHERE p.id = '982192b6-6843-4011-ef46-32caaf87d8a9') x;

WITH c AS (SELECT p.first, p.birthdate FROM patients p WHERE p.id = '982192b6-6843-4011-ef46-32caaf87d8a9') SELECT * FROM c;

SELECT (SELECT p.first FROM patients p WHERE p.id = '982192b6-6843-4011-ef46-32caaf87d8a9');

SELECT p.first AS "given name", p.birthdate AS born FROM patients p WHERE p.id = '982192b6-6843-4011-ef46-32caaf87d8a9';

SELECT e.stop, m.start FROM encounters e JOIN medications m ON m.encounter = e.id WHERE e.patient = '2de0b259-6c63-700d-9ac4-edcabff0861a' ORDER BY m.id LIMIT 3;

-- ORDER BY on encrypted columns, sorted in the proxy (docs/search.md).
SELECT p.id, p.last, p.first FROM patients p ORDER BY p.last, p.first, p.id LIMIT 20;

SELECT p.id FROM patients p ORDER BY p.birthdate DESC NULLS FIRST, p.id OFFSET 5 LIMIT 10;

SELECT e.id, e.stop FROM encounters e WHERE e.patient = '982192b6-6843-4011-ef46-32caaf87d8a9' ORDER BY e.stop DESC, e.id;

SELECT p.id, p.healthcare_expenses AS spent FROM patients p ORDER BY spent DESC, p.id LIMIT 10;

SELECT p.id, p.income FROM patients p ORDER BY 2 NULLS FIRST, p.id FETCH FIRST 15 ROWS ONLY;

SELECT m.id FROM medications m JOIN patients p ON p.id = m.patient ORDER BY p.last, m.start, m.id LIMIT 25;

PREPARE q AS SELECT p.first, p.income FROM patients p WHERE p.id = $1;
EXECUTE q('982192b6-6843-4011-ef46-32caaf87d8a9');

DECLARE c CURSOR FOR SELECT p.first, p.healthcare_expenses FROM patients p ORDER BY p.id;
FETCH 2 FROM c;

COPY (SELECT p.id FROM patients p) TO STDOUT;

CREATE FUNCTION pg_temp.first_names() RETURNS SETOF text LANGUAGE sql AS $f$ SELECT p.first FROM public.patients p ORDER BY p.id $f$;
SELECT pg_temp.first_names() LIMIT 3;
