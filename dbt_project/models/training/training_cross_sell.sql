{#- One row per clean past offer (a customer x product candidate that was contacted): the
    candidate's features as of the offer (int_cross_sell_candidates: customer features, product
    indicators, item-item and nearest-customer affinity, strictly earlier events), the contact
    cost c and, as labels, is_accepted and the realised deal size r, both in US cents as of
    the offer. -#}

with

offers as (
    select * from {{ ref('stg_raw__offers') }}
),

candidates as (
    select * from {{ ref('int_cross_sell_candidates') }}
),

fx_rates as (
    select * from {{ ref('int_fx_rates_dated') }}
),

final as (
    select
        offers.offer_id,
        offers.customer_id,
        offers.product,
        offers.offered_at,
        candidates.* except (customer_id, event_timestamp, product),
        {{ to_usd_minor('offers.contact_cost_minor') }} as contact_cost_usd_minor,
        offers.is_accepted,
        {{ to_usd_minor('offers.revenue_minor') }} as revenue_usd_minor
    from offers
    inner join candidates
        on offers.customer_id = candidates.customer_id
        and offers.offered_at = candidates.event_timestamp
        and offers.product = candidates.product
    {#- A range join on the rate's validity, the same row an as-of join would pick (validities do not overlap). #}
    left join fx_rates
        on offers.currency_code = fx_rates.currency_code
        and offers.offered_at >= fx_rates.valid_from_at
        and offers.offered_at < fx_rates.valid_to_at
)

select * from final
