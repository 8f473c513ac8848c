{#- Clean authorization attempts: every row of the raw table that passed the contract checks. -#}

with

validated as (
    select * from {{ ref('stg_raw__payment_attempts_validated') }}
),

final as (
    select
        attempt_id,
        payment_id,
        attempted_at,
        card_id,
        customer_id,
        merchant_id,
        merchant_category,
        amount_minor,
        currency_code,
        card_bin,
        issuer_id,
        issuer_country,
        card_network,
        card_type,
        card_expires_on,
        transaction_type,
        product_family,
        gateway,
        optimization,
        decision_propensity,
        is_approved,
        decline_code
    from validated
    where quarantine_reason is null
)

select * from final
