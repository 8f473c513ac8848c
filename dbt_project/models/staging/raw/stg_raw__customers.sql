{#- Clean customers: every raw row that passed the contract checks. -#}

with

validated as (
    select * from {{ ref('stg_raw__customers_validated') }}
),

final as (
    select
        customer_id,
        created_at,
        birth_date,
        annual_income_minor,
        currency_code,
        occupation,
        credit_score,
        country,
        segment
    from validated
    where quarantine_reason is null
)

select * from final
