{#- One row per monthly snapshot and ordered pair of distinct products: item-item cosine
    similarity over the customer x product holdings matrix as of the snapshot (holdings opened
    before the month started and still open), cosine = co-holders / sqrt(holders_a x holders_b).
    Snapshots are the months of the customer feature points, so a feature at t uses the
    snapshot of t's month: holdings strictly before t. Counted per holding pattern
    (int_snapshot_holding_patterns) instead of a self-join of customers' holdings. -#}

with

pattern_counts as (
    select * from {{ ref('int_snapshot_holding_patterns') }}
),

product_bits as (
    select * from (values
        {%- for product in var('products') %}
        ('{{ product }}', cast(1 as bigint) << {{ loop.index0 }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as product_bits (product, product_bit)
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
