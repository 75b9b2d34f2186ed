-- What `phiguard demo` adds to the demo EHR once the Synthea rows are in,
-- run by the database owner: the care-team table the clinician role's row
-- rules read (demo-policy.yml), and the grants of the demo users. The
-- users themselves exist already (DemoUsers).
--
-- Patients numbered in id order: dr_alice treats every third patient and
-- every tenth from 1 (so some are shared with dr_bob), dr_bob every third
-- from 1; as in integration/testdata/access-ehr.sql.

CREATE TABLE public.care_teams (
    clinician text NOT NULL,
    patient   uuid NOT NULL REFERENCES public.patients (id),
    PRIMARY KEY (clinician, patient)
);

INSERT INTO public.care_teams (clinician, patient)
SELECT 'dr_alice', id FROM (SELECT id, row_number() OVER (ORDER BY id) AS i FROM public.patients) n
WHERE i % 3 = 0 OR i % 10 = 1
UNION ALL
SELECT 'dr_bob', id FROM (SELECT id, row_number() OVER (ORDER BY id) AS i FROM public.patients) n
WHERE i % 3 = 1;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO dr_alice, dr_bob, biller, researcher;

ANALYZE public.care_teams;
