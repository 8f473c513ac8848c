{#- One row per monthly snapshot and ordered pair of distinct products: item-item cosine
    similarity over the customer x product holdings matrix as of the snapshot (holdings opened
    before the month started and still open), cosine = co-holders / sqrt(holders_a x holders_b).
    Snapshots are the months of the customer feature points, so a feature at t uses the
    snapshot of t's month: holdings strictly before t. -#}

with

holdings as (
    select * from {{ ref('stg_raw__product_holdings') }}
),

points as (
    select * from {{ ref('int_customer_feature_points') }}
),

snapshots as (
    select distinct cast(date_trunc('month', event_timestamp) as timestamp) as snapshot_at
    from points
),

held as (
    select distinct snapshots.snapshot_at, holdings.customer_id, holdings.product
    from snapshots
    inner join holdings
        on holdings.opened_at < snapshots.snapshot_at
        and (holdings.closed_at is null or holdings.closed_at >= snapshots.snapshot_at)
),

holders as (
    select snapshot_at, product, count(*) as holders
    from held
    group by all
),

co_holders as (
    select held_a.snapshot_at, held_a.product as product_a, held_b.product as product_b, count(*) as co_holders
    from held as held_a
    inner join held as held_b
        on held_a.snapshot_at = held_b.snapshot_at
        and held_a.customer_id = held_b.customer_id
        and held_a.product != held_b.product
    group by all
),

final as (
    select
        co_holders.snapshot_at,
        co_holders.product_a,
        co_holders.product_b,
        cast(co_holders.co_holders as bigint) as co_holders,
        cast(holders_a.holders as bigint) as holders_a,
        cast(holders_b.holders as bigint) as holders_b,
        co_holders.co_holders / sqrt(holders_a.holders * holders_b.holders) as cosine_similarity
    from co_holders
    inner join holders as holders_a
        on co_holders.snapshot_at = holders_a.snapshot_at and co_holders.product_a = holders_a.product
    inner join holders as holders_b
        on co_holders.snapshot_at = holders_b.snapshot_at and co_holders.product_b = holders_b.product
)

select * from final
