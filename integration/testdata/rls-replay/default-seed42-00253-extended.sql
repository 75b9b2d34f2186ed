-- RLS oracle leak: role default, user walkin, sqlsmith --seed=42 statement #253 (extended)
select  
  sample_0.name as c0
from 
  public.providers as sample_0 
    left join public.immunizations as sample_1 
    on (sample_0.zip = sample_1.code )
where sample_0.speciality is not NULL
limit 79;
