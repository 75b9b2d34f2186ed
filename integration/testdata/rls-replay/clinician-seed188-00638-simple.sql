-- RLS oracle leak: role clinician, user dr_alice, sqlsmith --seed=188 statement #638 (simple)
select  
  91 as c0, 
  ref_0.purpose as c1, 
  ref_0.purpose as c2, 
  ref_0.purpose as c3
from 
  (select  
            sample_0.granted as c0, 
            sample_0.purpose as c1, 
            sample_0.patient as c2, 
            (select uncovered_medications from public.payers order by 1 limit 1 offset 4)
               as c3
          from 
            public.consents as sample_0 
          where 28 <> 75
          limit 139) as subq_0
      inner join public.consents as ref_0
      on ((select id from public.conditions order by 1 limit 1 offset 5)
             > (select id from public.medications order by 1 limit 1 offset 6)
            )
    left join (select  
          ref_1.totalcost as c0, 
          ref_1.reasondescription as c1
        from 
          public.medications as ref_1
        where (cast(null as bytea) <= cast(null as bytea)) 
          or ((select pg_catalog.min(start) from public.careplans)
               <= cast(null as timestamptz))
        limit 79) as subq_1
    on (ref_0.purpose = subq_1.c1 )
where (ref_0.purpose is not NULL) 
  or (subq_0.c1 is NULL)
limit 156;
