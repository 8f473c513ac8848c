{{ config(materialized='view') }}

{#- FX rates with their validity start as a timestamp and the currency's minor-unit exponent,
    ready for an as-of join on an event timestamp. -#}

with

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

currencies as (
    select * from {{ ref('currencies') }}
),

final as (
    select
        fx_rates.currency_code,
        cast(fx_rates.valid_from as timestamp) as valid_from_at,
        fx_rates.usd_per_unit,
        currencies.minor_unit_exponent
    from fx_rates
    inner join currencies on fx_rates.currency_code = currencies.currency_code
)

select * from final
