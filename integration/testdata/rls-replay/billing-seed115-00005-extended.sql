-- RLS oracle leak: role billing, user biller, sqlsmith --seed=115 statement #5 (extended)
select  
  sample_0.patient as c0, 
  case when (
          pg_catalog.sum(
            cast(30 as int4)) over (partition by sample_0.encounter order by sample_0.stop) >= 17) 
      and (EXISTS (
        select  
            sample_1.patient as c0, 
            sample_1.patient as c1, 
            sample_1.patient as c2
          from 
            public.care_teams as sample_1 
          where EXISTS (
            select  
                sample_1.patient as c0, 
                ref_0.id as c1
              from 
                public.immunizations as ref_0
              where (cast(null as "bit") <= cast(null as "bit")) 
                and (ref_0.base_cost >= ref_0.base_cost)
              limit 117))) then sample_0.description else sample_0.description end
     as c1, 
  sample_0.code as c2
from 
  public.conditions as sample_0 
where sample_0.patient is not NULL
limit 114;
