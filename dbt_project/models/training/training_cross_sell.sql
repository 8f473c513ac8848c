{#- One row per clean past offer (a customer x product candidate that was contacted): the
    customer's features and the product's affinity as of the offer (strictly earlier events),
    the contact cost c and, as labels, is_accepted and the realised deal size r, both in US
    cents as of the offer. -#}

with

offers as (
    select * from {{ ref('stg_raw__offers') }}
),

customer_features as (
    select * from {{ ref('customer_features') }}
),

customer_product_affinity as (
    select * from {{ ref('customer_product_affinity') }}
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
        customer_features.* exclude (customer_id, event_timestamp),
        customer_product_affinity.affinity_score as product_affinity_score,
        {{ to_usd_minor('offers.contact_cost_minor') }} as contact_cost_usd_minor,
        offers.is_accepted,
        {{ to_usd_minor('offers.revenue_minor') }} as revenue_usd_minor
    from offers
    inner join customer_features
        on offers.customer_id = customer_features.customer_id
        and offers.offered_at = customer_features.event_timestamp
    left join customer_product_affinity
        on offers.customer_id = customer_product_affinity.customer_id
        and offers.offered_at = customer_product_affinity.event_timestamp
        and offers.product = customer_product_affinity.product
    asof left join fx_rates
        on offers.currency_code = fx_rates.currency_code
        and offers.offered_at >= fx_rates.valid_from_at
)

select * from final
