-- The transparency check's findings in generated statements, kept as
-- regression cases (TestTransparencyCorpus runs them with the rest of
-- the corpus). Each is a file the check saved on a DIFFERENT verdict.

-- sqlsmith --seed=1 #187: the scalar subquery on the view patient_summary
-- returned patients.first as its ciphertext (112 characters) through
-- phiguard; a statement reading such a view is now refused (0A000).
select distinct 
  case when sample_0.author is NULL then pg_catalog.tsquery_and(
      cast(cast(null as tsquery) as tsquery),
      cast(cast(coalesce(case when cast(null as oid) >= cast(null as oid) then cast(null as tsquery) else cast(null as tsquery) end
          ,
        cast(null as tsquery)) as tsquery) as tsquery)) else pg_catalog.tsquery_and(
      cast(cast(null as tsquery) as tsquery),
      cast(cast(coalesce(case when cast(null as oid) >= cast(null as oid) then cast(null as tsquery) else cast(null as tsquery) end
          ,
        cast(null as tsquery)) as tsquery) as tsquery)) end
     as c0, 
  (select encounter from public.allergies order by 1 limit 1 offset 4)
     as c1, 
  (select description from public.conditions order by 1 limit 1 offset 4)
     as c2, 
  sample_0.id as c3, 
  cast(nullif(sample_0.patient,
    sample_0.encounter) as uuid) as c4, 
  98 as c5, 
  sample_0.author as c6, 
  (select first from public.patient_summary order by 1 limit 1 offset 5)
     as c7, 
  sample_0.id as c8
from 
  public.clinical_notes as sample_0 
where sample_0.id is not NULL
limit 142;

-- sqlsmith --seed=3 #344: the same view compared with a plaintext column:
-- no row through phiguard (SELECT 0), 82 straight on PostgreSQL.
select  
  sample_0.clinician as c0, 
  sample_0.clinician as c1, 
  sample_0.clinician as c2, 
  sample_0.patient as c3, 
  sample_0.clinician as c4, 
  sample_0.clinician as c5, 
  sample_0.patient as c6, 
  sample_0.clinician as c7, 
  cast(coalesce(sample_0.patient,
    sample_0.patient) as uuid) as c8, 
  (select note from public.clinical_notes order by 1 limit 1 offset 4)
     as c9, 
  sample_0.clinician as c10, 
  sample_0.patient as c11, 
  sample_0.clinician as c12, 
  sample_0.patient as c13, 
  sample_0.patient as c14, 
  sample_0.clinician as c15, 
  sample_0.clinician as c16, 
  sample_0.clinician as c17, 
  sample_0.clinician as c18
from 
  public.care_teams as sample_0 
where (sample_0.clinician >= (select first from public.patient_summary order by 1 limit 1 offset 6)
      ) 
  or (case when true then cast(null as int2) else cast(null as int2) end
       <> cast(coalesce(case when cast(null as polygon) |>> cast(null as polygon) then cast(coalesce(cast(null as int2),
          cast(null as int2)) as int2) else cast(coalesce(cast(null as int2),
          cast(null as int2)) as int2) end
        ,
      cast(null as int2)) as int2))
limit 99;

-- sqlsmith --seed=1041 #438 (not comparable): careplans has no encrypted
-- column, phiguard forwards the statement as it is, and the encrypted
-- database's own answer is phiguard's; the window's json_object_agg over
-- peers lists its keys in another order in the two databases.
select  
  sample_0.stop as c0, 
  sample_0.reasoncode as c1, 
  sample_0.code as c2, 
  
    pg_catalog.json_object_agg(
      cast(sample_0.description as text),
      cast(sample_0.reasondescription as text)) over (partition by sample_0.description,sample_0.patient order by sample_0.code) as c3, 
  (select author from public.clinical_notes order by 1 limit 1 offset 1)
     as c4, 
  sample_0.start as c5, 
  case when sample_0.stop = sample_0.start then sample_0.encounter else sample_0.encounter end
     as c6, 
  sample_0.id as c7, 
  sample_0.patient as c8, 
  pg_catalog.json_build_object() as c9
from 
  public.careplans as sample_0 
where EXISTS (
  select  
      ref_0.patient as c0
    from 
      public.care_teams as ref_0
    where true
    limit 96)
limit 163;

-- sqlsmith --seed=339 #72 (100,000-statement run): a window's jsonb_agg
-- over peers (ORDER BY ref_0.start twice, ties) with LIMIT and no ORDER
-- BY; conditions has encrypted columns, but none is read, so phiguard
-- sends the text as it is and the answer depends on the rows' physical
-- order, which differs between the encrypted and the plaintext database.
-- The check compares it with the encrypted database's own answer
-- (databasesDiffer): not comparable.
select  
  ref_0.patient as c0, 
  case when (select code from public.conditions order by 1 limit 1 offset 6)
         is not NULL then 
      pg_catalog.jsonb_agg(
        cast(ref_0.code as text)) over (partition by ref_0.stop order by ref_0.start,ref_0.start) else 
      pg_catalog.jsonb_agg(
        cast(ref_0.code as text)) over (partition by ref_0.stop order by ref_0.start,ref_0.start) end
     as c1, 
  (select id from public.encounters order by 1 limit 1 offset 6)
     as c2, 
  (select patient from public.export_ids order by 1 limit 1 offset 4)
     as c3
from 
  public.conditions as ref_0
where 87 is not NULL
limit 54;

-- sqlsmith --seed=102 #1509 (100,000-statement run, extended protocol):
-- phiguard's answer did not come within the client's 60 s while the
-- machine ran three test suites beside the check; alone it is equal.
select  
  sample_0.patient as c0
from 
  public.export_ids as sample_0 
where true;
