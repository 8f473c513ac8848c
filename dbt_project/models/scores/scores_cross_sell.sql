{{ config(materialized='table') }}

{#- One row per cross-sell candidate at the scoring instant: every customer with a current
    feature row (the latest instant at or before the feature cutoff) and every product the
    customer's segment can hold and the customer does not hold. Scored in SQL by both compiled
    models:

    - cross_sell_propensity (binary cross-entropy): p_accept = P(accept | contacted); with the
      product's deal size from the offers history, its expected payoff p_accept x r - c;
    - cross_sell_payoff (the expected-payoff objective, docs/cross_sell.md): payoff_score q,
      whose odds estimate E[revenue | contacted] / c, so expected_payoff = c x (q / (1 - q) - 1).

    A table rebuilt on every run (the candidates of now). Before both models are trained it is
    built empty, with a warning. -#}

{%- set propensity_version = none -%}
{%- set payoff_version = none -%}
{%- if execute -%}
    {%- set propensity_version = model_version('cross_sell_propensity') -%}
    {%- set payoff_version = model_version('cross_sell_payoff') -%}
    {%- if propensity_version is none or payoff_version is none -%}
        {{ log("WARNING: scores_cross_sell is built empty: models cross_sell_propensity and cross_sell_payoff must both be "
               ~ "registered (found cross_sell_propensity=" ~ propensity_version ~ ", cross_sell_payoff=" ~ payoff_version ~ "). "
               ~ "Train them with `payloom run` (or scoring.cross_sell_job.train_cross_sell_job), then build again.", info=true) }}
    {%- endif -%}
{%- endif -%}
{%- set models_ready = propensity_version is not none and payoff_version is not none -%}

with

candidates as (
    select * from {{ ref('int_cross_sell_candidates') }}
),

product_offer_economics as (
    select * from {{ ref('product_offer_economics') }}
),

scoring_instant as (
    select max(event_timestamp) as scored_at
    from candidates
    where event_timestamp <= {{ feature_cutoff_at() }}
),

current_candidates as (
    select candidates.*
    from candidates
    inner join scoring_instant on candidates.event_timestamp = scoring_instant.scored_at
    where candidates.is_eligible and not candidates.is_held
),

product_prices as (
    select
        product,
        median(contact_cost_usd_minor) as contact_cost_usd_minor,
        sum(deal_size_usd_minor * accepted_offers) / nullif(sum(accepted_offers), 0) as deal_size_usd_minor
    from product_offer_economics
    group by all
),

priced as (
    select
        current_candidates.*,
        coalesce(by_segment.contact_cost_usd_minor, product_prices.contact_cost_usd_minor) as contact_cost_usd_minor,
        coalesce(by_segment.deal_size_usd_minor, product_prices.deal_size_usd_minor, 0) as deal_size_usd_minor
    from current_candidates
    left join product_offer_economics as by_segment
        on current_candidates.product = by_segment.product
        and coalesce(current_candidates.segment, 'unknown') = by_segment.segment
    left join product_prices on current_candidates.product = product_prices.product
    {#- A product never offered has no known contact cost: it cannot be priced, so it is not a candidate. #}
    where coalesce(by_segment.contact_cost_usd_minor, product_prices.contact_cost_usd_minor) is not null
),

{% if models_ready -%}
scored as (
    select
        features.*,
        {{ score('cross_sell_propensity', 'features') }} as p_accept,
        {{ score('cross_sell_payoff', 'features') }} as payoff_score
    from priced as features
),

final as (
    select
        customer_id,
        product,
        event_timestamp as scored_at,
        segment,
        '{{ propensity_version }}' as propensity_model_version,
        '{{ payoff_version }}' as payoff_model_version,
        p_accept,
        payoff_score,
        cast(contact_cost_usd_minor as double) as contact_cost_usd_minor,
        cast(deal_size_usd_minor as double) as deal_size_usd_minor,
        contact_cost_usd_minor * (payoff_score / greatest(1 - payoff_score, 1e-12)) as expected_revenue_usd_minor,
        contact_cost_usd_minor * (payoff_score / greatest(1 - payoff_score, 1e-12) - 1) as expected_payoff_usd_minor,
        p_accept * deal_size_usd_minor - contact_cost_usd_minor as propensity_expected_payoff_usd_minor,
        product_affinity_score,
        neighbour_affinity_score
    from scored
)
{%- else -%}
final as (
    select
        customer_id,
        product,
        event_timestamp as scored_at,
        segment,
        cast(null as string) as propensity_model_version,
        cast(null as string) as payoff_model_version,
        cast(null as double) as p_accept,
        cast(null as double) as payoff_score,
        cast(contact_cost_usd_minor as double) as contact_cost_usd_minor,
        cast(deal_size_usd_minor as double) as deal_size_usd_minor,
        cast(null as double) as expected_revenue_usd_minor,
        cast(null as double) as expected_payoff_usd_minor,
        cast(null as double) as propensity_expected_payoff_usd_minor,
        product_affinity_score,
        neighbour_affinity_score
    from priced
    where false
)
{%- endif %}

select * from final
