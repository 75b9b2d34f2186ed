-- RLS oracle leak: role default, user walkin, sqlsmith --seed=93 statement #462 (extended)
select  
  case when (sample_0.unique_customers is NULL) 
      and (EXISTS (
        select  
            sample_0.revenue as c0, 
            ref_1.ownership as c1
          from 
            public.export_ids as ref_0
              left join public.payers as ref_1
              on (true)
          where cast(null as box) ~= cast(null as box))) then sample_0.phone else sample_0.phone end
     as c0, 
  sample_0.covered_procedures as c1, 
  sample_0.phone as c2, 
  cast(nullif(sample_0.address,
    sample_0.address) as text) as c3
from 
  public.payers as sample_0 
where true
limit 186;
