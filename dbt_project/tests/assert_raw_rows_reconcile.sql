{#- Nothing is dropped: for every raw table, raw rows = clean rows + quarantined rows.
    Returns the tables whose counts do not add up. -#}

with

counts as (
    select
        'payment_attempts' as table_name,
        (select count(*) from {{ source('raw', 'payment_attempts') }}) as raw_rows,
        (select count(*) from {{ ref('stg_raw__payment_attempts') }}) as clean_rows,
        (select count(*) from {{ ref('quarantined_rows') }} where table_name = 'payment_attempts') as quarantined_rows
)

select *
from counts
where raw_rows != clean_rows + quarantined_rows
