{{ config(materialized='table') }}

{#- A table, not ephemeral: training_cross_sell, scores_cross_sell and eight data tests read it,
    and as an ephemeral CTE each of them recomputed it (about 2 s each at 10 M attempts). -#}

{#- One row per customer feature point (customer, t) and product of var('products'): the
    customer's features at t, the product as indicator columns, both collaborative-filtering
    affinities at t (item-item cosine, nearest customers), and whether the product is held at t
    and can be held by the customer's segment. training_cross_sell joins past offers to it;
    scores_cross_sell scores its eligible, not held rows at the scoring instant. Everything
    uses events strictly before t. -#}

with

customer_features as (
    select * from {{ ref('customer_features') }}
),

customer_product_affinity as (
    select * from {{ ref('customer_product_affinity') }}
),

held_at_points as (
    select * from {{ ref('int_holdings_at_points') }}
),

holding_pattern_neighbours as (
    select * from {{ ref('holding_pattern_neighbours') }}
),

products as (
    select * from {{ ref('products') }}
),

product_positions as (
    select * from {{ product_positions() }}
),

point_patterns as (
    select
        held_at_points.customer_id,
        held_at_points.event_timestamp,
        cast(sum(1 << product_positions.product_index) as bigint) as holding_pattern
    from held_at_points
    inner join product_positions on held_at_points.product = product_positions.product
    group by all
),

candidates as (
    select
        customer_features.customer_id,
        customer_features.event_timestamp,
        products.product,
        case products.eligible_segments
            when 'any' then true
            when 'consumer' then customer_features.segment = 'consumer'
            when 'business' then customer_features.segment in ('small_business', 'enterprise')
            else false
        end is true as is_eligible
    from customer_features
    cross join products
),

final as (
    select
        candidates.customer_id,
        candidates.event_timestamp,
        candidates.product,
        candidates.is_eligible,
        coalesce(customer_product_affinity.is_held, false) as is_held,
        {%- for product in var('products') %}
        candidates.product = '{{ product }}' as is_product_{{ product }},
        {%- endfor %}
        customer_features.segment = 'small_business' as is_small_business,
        customer_features.segment = 'enterprise' as is_enterprise,
        customer_features.* except (customer_id, event_timestamp),
        coalesce(customer_product_affinity.affinity_score, 0) as product_affinity_score,
        coalesce(holding_pattern_neighbours.neighbour_affinity_score, 0) as neighbour_affinity_score
    from candidates
    inner join customer_features
        on candidates.customer_id = customer_features.customer_id
        and candidates.event_timestamp = customer_features.event_timestamp
    left join customer_product_affinity
        on candidates.customer_id = customer_product_affinity.customer_id
        and candidates.event_timestamp = customer_product_affinity.event_timestamp
        and candidates.product = customer_product_affinity.product
    left join point_patterns
        on candidates.customer_id = point_patterns.customer_id
        and candidates.event_timestamp = point_patterns.event_timestamp
    left join holding_pattern_neighbours
        on holding_pattern_neighbours.snapshot_at = {{ snapshot_at('candidates.event_timestamp') }}
        and holding_pattern_neighbours.holding_pattern = coalesce(point_patterns.holding_pattern, 0)
        and holding_pattern_neighbours.product = candidates.product
)

select * from final
