{#- One row per monthly snapshot, holding pattern and product outside the pattern: the
    nearest-customer (user-based collaborative filtering) affinity of marts.holding_pattern_neighbours,
    keyed for online lookups. A service that knows a customer's holdings (customer_features'
    holds_* columns) names the pattern as the held products in var('products') order joined by
    '+' ('none' when nothing is held) and reads the score of each candidate product. The row of
    a snapshot is stamped at the snapshot's instant (the start of its month) and uses holdings
    before it, so a point-in-time lookup at t finds the snapshot of t's month, as
    int_cross_sell_candidates does offline. -#}

with

holding_pattern_neighbours as (
    select * from {{ ref('holding_pattern_neighbours') }}
),

final as (
    select
        coalesce(
            nullif(concat_ws('+'
                {%- for product in var('products') %},
                case when (holding_pattern >> {{ loop.index0 }}) & 1 = 1 then '{{ product }}' end
                {%- endfor %}
            ), ''),
            'none'
        ) as holding_pattern,
        product,
        snapshot_at as event_timestamp,
        neighbour_customers,
        neighbour_affinity_score
    from holding_pattern_neighbours
)

select * from final
