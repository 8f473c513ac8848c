{#- One row per monthly snapshot, holding pattern and product not in the pattern: user-based
    collaborative filtering by nearest customers. A holding pattern is the set of products a
    customer holds, as a bitmask over var('products'). For candidate product j, the snapshot's
    customers are ranked by the cosine similarity of their holdings other than j to the pattern
    (|P and Q - j| / sqrt(|P| x |Q - j|)), so customers who hold exactly what the customer holds and
    those who hold that plus j are equally near; the k nearest (var cross_sell_neighbours, whole
    ties at the boundary included) vote with their similarity as weight, and the score is the
    weighted share of them holding j: P(holds j | holds what the customer holds), estimated
    from look-alikes. Pattern 0 (no holdings: no similarity is defined) gets the product's
    share of holders. Snapshots are the months of the feature points, built from holdings before
    the month started, as in product_similarity: a feature at t uses only holdings before t. -#}

with

points as (
    select * from {{ ref('int_customer_feature_points') }}
),

held_at_points as (
    select * from {{ ref('int_holdings_at_points') }}
),

pattern_sizes as (
    select * from {{ ref('int_snapshot_holding_patterns') }}
),

products as (
    select * from {{ product_positions() }}
),

snapshots as (
    select distinct {{ snapshot_at('event_timestamp') }} as snapshot_at
    from points
),

point_patterns as (
    select
        {{ snapshot_at('held_at_points.event_timestamp') }} as snapshot_at,
        sum(1 << products.product_index) as holding_pattern
    from held_at_points
    inner join products on held_at_points.product = products.product
    group by held_at_points.customer_id, held_at_points.event_timestamp
),

query_patterns as (
    select distinct snapshot_at, cast(holding_pattern as bigint) as holding_pattern
    from point_patterns
),

similarities as (
    select
        query_patterns.snapshot_at,
        query_patterns.holding_pattern,
        products.product,
        pattern_sizes.customers,
        (pattern_sizes.holding_pattern >> products.product_index) & 1 as holds_product,
        bit_count(query_patterns.holding_pattern & pattern_sizes.holding_pattern)
            / sqrt(bit_count(query_patterns.holding_pattern)
                * bit_count(pattern_sizes.holding_pattern & ~(cast(1 as bigint) << products.product_index))) as cosine_similarity
    from query_patterns
    cross join products
    inner join pattern_sizes
        on query_patterns.snapshot_at = pattern_sizes.snapshot_at
        and (query_patterns.holding_pattern & pattern_sizes.holding_pattern) != 0
    where (query_patterns.holding_pattern >> products.product_index) & 1 = 0
),

ranked as (
    select
        *,
        sum(customers) over (
            partition by snapshot_at, holding_pattern, product order by cosine_similarity desc
            range between unbounded preceding and current row
        ) - sum(customers) over (partition by snapshot_at, holding_pattern, product, cosine_similarity) as closer_customers
    from similarities
),

nearest as (
    select * from ranked
    where closer_customers < {{ var('cross_sell_neighbours') }}
),

neighbour_votes as (
    select
        snapshot_at,
        holding_pattern,
        product,
        sum(customers) as neighbour_customers,
        sum(cosine_similarity * customers * holds_product) / sum(cosine_similarity * customers) as neighbour_affinity_score
    from nearest
    group by all
),

popularity as (
    select
        snapshots.snapshot_at,
        cast(0 as bigint) as holding_pattern,
        products.product,
        coalesce(sum(pattern_sizes.customers), 0) as holders
    from snapshots
    cross join products
    left join pattern_sizes
        on snapshots.snapshot_at = pattern_sizes.snapshot_at
        and (pattern_sizes.holding_pattern >> products.product_index) & 1 = 1
    group by all
),

snapshot_customers as (
    select snapshot_at, sum(customers) as customers
    from pattern_sizes
    group by all
),

final as (
    select
        snapshot_at,
        holding_pattern,
        product,
        cast(neighbour_customers as bigint) as neighbour_customers,
        cast(neighbour_affinity_score as double) as neighbour_affinity_score
    from neighbour_votes
    union all
    select
        popularity.snapshot_at,
        popularity.holding_pattern,
        popularity.product,
        cast(coalesce(snapshot_customers.customers, 0) as bigint),
        cast(coalesce(popularity.holders / nullif(snapshot_customers.customers, 0), 0) as double)
    from popularity
    left join snapshot_customers on popularity.snapshot_at = snapshot_customers.snapshot_at
)

select * from final
