{{ config(materialized='table') }}

{#- One row per monthly snapshot and holding pattern: how many customers hold exactly that set of
    products at the snapshot (holdings opened before the month started and still open). A
    pattern is a bitmask over var('products'): bit i set when the customer holds products[i].
    Snapshots are the months of the customer feature points, so a feature at t uses the snapshot
    of t's month: holdings strictly before t. Read by product_similarity (item-item co-holding)
    and holding_pattern_neighbours (nearest customers), which count per pattern, a few hundred
    rows, instead of per customer. -#}

with

holdings as (
    select * from {{ ref('stg_raw__product_holdings') }}
),

points as (
    select * from {{ ref('int_customer_feature_points') }}
),

products as (
    select * from {{ product_positions() }}
),

snapshots as (
    select distinct {{ snapshot_at('event_timestamp') }} as snapshot_at
    from points
),

customer_patterns as (
    {#- No distinct needed: a product held twice at the snapshot sets the same bit. #}
    select
        snapshots.snapshot_at,
        holdings.customer_id,
        bit_or(cast(1 as bigint) << products.product_index) as holding_pattern
    from snapshots
    inner join holdings
        on holdings.opened_at < snapshots.snapshot_at
        and (holdings.closed_at is null or holdings.closed_at >= snapshots.snapshot_at)
    inner join products on holdings.product = products.product
    group by all
),

final as (
    select snapshot_at, cast(holding_pattern as bigint) as holding_pattern, count(*) as customers
    from customer_patterns
    group by all
)

select * from final
