{#- Clean offers: every raw row that passed the contract checks. -#}

with

validated as (
    select * from {{ ref('stg_raw__offers_validated') }}
),

final as (
    select
        offer_id,
        customer_id,
        product,
        offered_at,
        contact_cost_minor,
        is_accepted,
        revenue_minor,
        currency_code
    from validated
    where quarantine_reason is null
)

select * from final
