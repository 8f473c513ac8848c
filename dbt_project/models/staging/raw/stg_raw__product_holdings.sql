{#- Clean product holdings: every raw row that passed the contract checks. -#}

with

validated as (
    select * from {{ ref('stg_raw__product_holdings_validated') }}
),

final as (
    select
        customer_id,
        product,
        opened_at,
        closed_at
    from validated
    where quarantine_reason is null
)

select * from final
