{{
    config(
        materialized=fact_materialization(),
        unique_key='attempt_id',
        incremental_strategy='delete+insert',
    )
}}

{#- One row per clean authorization attempt, with its amount in US dollars (as of the attempt)
    and its calendar parts. Incremental: a run reloads the last 3 days of what is loaded (rows
    corrected since) and adds every attempt not loaded yet, however late it arrives. -#}

{#- Built after quarantined_rows: both run the attempts' validation query (a view), and one
    after the other they do not compete for memory. #}
-- depends_on: {{ ref('quarantined_rows') }}

with

payment_attempts as (
    select * from {{ ref('stg_raw__payment_attempts') }}
    {% if is_incremental() %}
    where attempted_at > (select max(attempted_at) - interval 3 day from {{ this }})
        or attempt_id not in (select attempt_id from {{ this }})
    {% endif %}
),

fx_rates as (
    select * from {{ ref('int_fx_rates_dated') }}
),

converted as (
    select
        payment_attempts.*,
        cast(round({{ to_usd_minor('payment_attempts.amount_minor') }}) as bigint) as usd_amount_minor
    from payment_attempts
    {#- A range join, not ASOF: ASOF sorts all attempts (7 s at 10 M); this is a hash join on
        the currency with a filter on the (non-overlapping) validity interval. #}
    left join fx_rates
        on payment_attempts.currency_code = fx_rates.currency_code
        and payment_attempts.attempted_at >= fx_rates.valid_from_at
        and payment_attempts.attempted_at < fx_rates.valid_to_at
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
        usd_amount_minor,
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
        decline_code,
        cast(extract(hour from attempted_at) as integer) as hour_of_day,
        cast({{ iso_day_of_week('attempted_at') }} as integer) as day_of_week,
        cast(extract(day from attempted_at) as integer) as day_of_month,
        cast({{ boundaries_between('day', 'cast(attempted_at as date)', 'card_expires_on') }} as integer) as days_to_card_expiry
    from converted
)

select * from final
