-- RLS oracle leak: role billing, user biller, sqlsmith --seed=72 statement #1380 (simple)
select  
  sample_0.description as c0, 
  sample_0.payer_coverage as c1, 
  
    pg_catalog.bit_xor(
      cast(sample_0.dispenses as int4)) over (partition by sample_0.payer_coverage order by sample_0.patient,sample_0.start,sample_0.base_cost,sample_0.totalcost) as c2, 
  sample_0.payer_coverage as c3
from 
  public.medications as sample_0 
where sample_0.encounter is not NULL
limit 155;
