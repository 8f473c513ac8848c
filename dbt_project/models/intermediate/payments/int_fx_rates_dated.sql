{{ config(materialized='view') }}

{#- FX rates with their validity as timestamps [valid_from_at, valid_to_at) and the currency's
    minor-unit exponent: ready for an as-of join on valid_from_at, or for a range join (a hash
    join on currency_code, then a filter) that needs no sort of the large side. -#}

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
        coalesce(
            cast(lead(fx_rates.valid_from) over (partition by fx_rates.currency_code order by fx_rates.valid_from) as timestamp),
            {{ timestamp_infinity() }}
        ) as valid_to_at,
        fx_rates.usd_per_unit,
        currencies.minor_unit_exponent
    from fx_rates
    inner join currencies on fx_rates.currency_code = currencies.currency_code
)

select * from final
