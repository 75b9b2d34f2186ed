-- RLS oracle leak: role billing, user biller, sqlsmith --seed=157 statement #381 (simple)
select  
  sample_0.ethnicity as c0, 
  pg_catalog.inet_client_addr() as c1
from 
  public.patients as sample_0 
where (sample_0.deathdate = cast(null as "timestamp")) 
  or ((select lat from public.providers order by 1 limit 1 offset 4)
       is not NULL)
limit 70;
