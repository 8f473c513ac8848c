{#- Nothing is dropped: for every raw table, raw rows = clean rows + quarantined rows.
    Returns the tables whose counts do not add up. -#}

{%- set tables = ['payment_attempts', 'customers', 'product_holdings', 'offers', 'interactions'] %}

with

counts as (
    {%- for table in tables %}
    select
        '{{ table }}' as table_name,
        (select count(*) from {{ source('raw', table) }}) as raw_rows,
        (select count(*) from {{ ref('stg_raw__' ~ table) }}) as clean_rows,
        (select count(*) from {{ ref('quarantined_rows') }} where table_name = '{{ table }}') as quarantined_rows
    {{ "union all" if not loop.last }}
    {%- endfor %}
)

select *
from counts
where raw_rows != clean_rows + quarantined_rows
