{{ config(materialized='table') }}

{#- One row per scored customer: the next best offer, the candidate product with the highest
    expected payoff (expected revenue - contact cost, from the cross_sell_payoff model); ties go
    to the cheaper contact, then the product name. is_profitable says whether contacting the
    customer about it is expected to pay at all. Empty until the cross-sell models are trained. -#}

with

scores_cross_sell as (
    select * from {{ ref('scores_cross_sell') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by expected_payoff_usd_minor desc, contact_cost_usd_minor, product
        ) as payoff_rank,
        count(*) over (partition by customer_id) as candidate_products
    from scores_cross_sell
),

final as (
    select
        customer_id,
        product,
        scored_at,
        segment,
        payoff_model_version,
        p_accept,
        payoff_score,
        contact_cost_usd_minor,
        expected_revenue_usd_minor,
        expected_payoff_usd_minor,
        expected_payoff_usd_minor > 0 as is_profitable,
        cast(candidate_products as bigint) as candidate_products
    from ranked
    where payoff_rank = 1
)

select * from final
