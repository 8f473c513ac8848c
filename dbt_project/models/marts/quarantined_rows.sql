{#- One row per raw row that broke the contract, from every raw table: the table, the row's
    key, the reason, and the raw row as JSON. Nothing is dropped: raw = clean + quarantined. -#}

{%- set record_ids = {
    'payment_attempts': 'attempt_id',
    'customers': 'customer_id',
    'product_holdings': "customer_id || '|' || product || '|' || cast(opened_at as string)",
    'offers': 'offer_id',
    'interactions': "customer_id || '|' || cast(occurred_at as string)",
} %}

with

{%- for table in record_ids %}

{{ table }}_validated as (
    select * from {{ ref('stg_raw__' ~ table ~ '_validated') }}
),
{%- endfor %}

quarantined as (
    {%- for table, record_id in record_ids.items() %}
    select
        '{{ table }}' as table_name,
        {{ record_id }} as record_id,
        quarantine_reason,
        raw_row_json,
        source_file
    from {{ table }}_validated
    where quarantine_reason is not null
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

final as (
    select * from quarantined
)

select * from final
