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
    {#- Repeats (a product opened twice and open at the snapshot) are harmless: patterns are bit_or'ed. #}
    select snapshots.snapshot_at, holdings.customer_id, holdings.product
    from snapshots
    inner join holdings
        on holdings.opened_at < snapshots.snapshot_at
        and (holdings.closed_at is null or holdings.closed_at >= snapshots.snapshot_at)
),

product_bits as (
    select product, cast(1 as bigint) << cast(row_number() over (order by product) - 1 as integer) as product_bit
    from {{ ref('products') }}
),

customer_patterns as (
    {#- Each customer's holdings at the snapshot as a bit pattern: the pairs are counted per
        distinct pattern (a few hundred) instead of per customer (a self-join of millions). #}
    select held.snapshot_at, held.customer_id, bit_or(product_bits.product_bit) as holding_pattern
    from held
    inner join product_bits on held.product = product_bits.product
    group by all
),

pattern_counts as (
    select snapshot_at, holding_pattern, count(*) as customers
    from customer_patterns
    group by all
),

holders as (
    select pattern_counts.snapshot_at, product_bits.product, sum(pattern_counts.customers) as holders
    from pattern_counts
    inner join product_bits on (pattern_counts.holding_pattern & product_bits.product_bit) != 0
    group by all
),

co_holders as (
    select
        pattern_counts.snapshot_at,
        bits_a.product as product_a,
        bits_b.product as product_b,
        sum(pattern_counts.customers) as co_holders
    from pattern_counts
    inner join product_bits as bits_a on (pattern_counts.holding_pattern & bits_a.product_bit) != 0
    inner join product_bits as bits_b
        on (pattern_counts.holding_pattern & bits_b.product_bit) != 0
        and bits_a.product != bits_b.product
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
