-- RLS oracle leak: role billing, user biller, sqlsmith --seed=152 statement #1367 (simple)
select  
  sample_0.patient as c0, 
  sample_0.reasoncode as c1, 
  sample_0.description as c2, 
  
    pg_catalog.var_pop(
      cast(cast(null as int2) as int2)) over (partition by sample_0.code order by sample_0.reasoncode) as c3, 
  sample_0.start as c4
from 
  public.careplans as sample_0 
where sample_0.patient is not NULL
limit 107;
