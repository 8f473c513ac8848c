{#- Clean interactions: every raw row that passed the contract checks. -#}

with

validated as (
    select * from {{ ref('stg_raw__interactions_validated') }}
),

final as (
    select
        customer_id,
        occurred_at,
        channel,
        kind
    from validated
    where quarantine_reason is null
)

select * from final
