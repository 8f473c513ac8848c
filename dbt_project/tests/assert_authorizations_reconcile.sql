{#- Nothing is lost on the way to the fact table, late arrivals included: every raw attempt is
    either in fct_authorizations or quarantined (the incremental filter must not skip a row
    that arrives after its time window was loaded). Cheap: raw counts come from Parquet metadata. -#}

with

counts as (
    select
        (select count(*) from {{ source('raw', 'payment_attempts') }}) as raw_rows,
        (select count(*) from {{ ref('quarantined_rows') }} where table_name = 'payment_attempts') as quarantined_rows,
        (select count(*) from {{ ref('fct_authorizations') }}) as fact_rows
)

select *
from counts
where raw_rows != quarantined_rows + fact_rows
