-- RLS oracle leak: role billing, user biller, sqlsmith --seed=266 statement #381 (simple)
select  
  pg_catalog.timetz_ne(
    cast(cast(coalesce(case when ref_0.base_cost is not NULL then cast(null as timetz) else cast(null as timetz) end
        ,
      
        pg_catalog.min(
          cast(cast(null as timetz) as timetz)) over (partition by ref_0.base_cost order by ref_0.totalcost)) as timetz) as timetz),
    cast(case when pg_catalog.timestamp_mi_interval(
          cast(case when true then cast(null as "timestamp") else cast(null as "timestamp") end
             as "timestamp"),
          cast(cast(null as "interval") as "interval")) < cast(coalesce(case when false then cast(null as date) else cast(null as date) end
            ,
          case when (ref_0.code >= cast(null as name)) 
              and (true) then (select pg_catalog.min(start) from public.conditions)
               else (select pg_catalog.min(start) from public.conditions)
               end
            ) as date) then 
        pg_catalog.min(
          cast(cast(null as timetz) as timetz)) over (partition by ref_0.description order by ref_0.code,ref_0.code) else 
        pg_catalog.min(
          cast(cast(null as timetz) as timetz)) over (partition by ref_0.description order by ref_0.code,ref_0.code) end
       as timetz)) as c0, 
  ref_0.patient as c1
from 
  public.medications as ref_0
where true
limit 43;
