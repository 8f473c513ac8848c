{#- One row per product and customer segment seen in the offers history: how often offers of
    the product were accepted, the median contact cost c and the mean deal size r of accepted
    offers (both US cents as of the offer). Groups with fewer than var cross_sell_min_accepted
    accepted offers fall back to the product's figures over every segment. Used to price a
    candidate at scoring time: its contact cost, and the deal size that turns P(accept) into an
    expected payoff for the propensity (BCE) model. -#}

with

offers as (
    select * from {{ ref('stg_raw__offers') }}
),

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

fx_rates as (
    select * from {{ ref('int_fx_rates_dated') }}
),

offers_in_usd as (
    select
        offers.product,
        coalesce(customers.segment, 'unknown') as segment,
        offers.is_accepted,
        {{ to_usd_minor('offers.contact_cost_minor') }} as contact_cost_usd_minor,
        {{ to_usd_minor('offers.revenue_minor') }} as revenue_usd_minor
    from offers
    left join customers on offers.customer_id = customers.customer_id
    {#- A range join on the rate's validity, the same row an as-of join would pick (validities do not overlap). #}
    left join fx_rates
        on offers.currency_code = fx_rates.currency_code
        and offers.offered_at >= fx_rates.valid_from_at
        and offers.offered_at < fx_rates.valid_to_at
),

aggregated as (
    -- One pass for both grains: (product, segment) and the product over every segment.
    select
        product,
        segment,
        grouping(segment) = 1 as is_product_total,
        count(*) as offers,
        count(*) filter (where is_accepted) as accepted_offers,
        median(contact_cost_usd_minor) as contact_cost_usd_minor,
        avg(revenue_usd_minor) filter (where is_accepted) as deal_size_usd_minor
    from offers_in_usd
    group by grouping sets ((product, segment), (product))
),

by_segment as (
    select * from aggregated where not is_product_total
),

by_product as (
    select * from aggregated where is_product_total
),

final as (
    select
        by_segment.product,
        by_segment.segment,
        cast(by_segment.offers as bigint) as offers,
        cast(by_segment.accepted_offers as bigint) as accepted_offers,
        cast(by_segment.accepted_offers / by_segment.offers as double) as acceptance_rate,
        cast(by_segment.contact_cost_usd_minor as double) as contact_cost_usd_minor,
        cast(case
            when by_segment.accepted_offers >= {{ var('cross_sell_min_accepted') }} then by_segment.deal_size_usd_minor
            else coalesce(by_product.deal_size_usd_minor, 0)
        end as double) as deal_size_usd_minor,
        by_segment.accepted_offers >= {{ var('cross_sell_min_accepted') }} as is_segment_estimate
    from by_segment
    inner join by_product on by_segment.product = by_product.product
)

select * from final
