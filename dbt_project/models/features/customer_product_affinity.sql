{#- One row per customer, feature timestamp t and product (var products): item-item
    collaborative-filtering affinity = mean cosine similarity between the product and the
    products the customer holds at t, using the similarity snapshot of t's month (built from
    holdings before that month). 0 when the customer holds nothing related; the product itself
    is flagged, not scored. -#}

with

points as (
    select * from {{ ref('int_customer_feature_points') }}
),

held as (
    select * from {{ ref('int_holdings_at_points') }}
),

product_similarity as (
    select * from {{ ref('product_similarity') }}
),

products as (
    select * from (values
        {%- for product in var('products') %}
        ('{{ product }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as products (product)
),

held_counts as (
    select customer_id, event_timestamp, count(*) as products_held
    from held
    group by all
),

similarity_sums as (
    select
        held.customer_id,
        held.event_timestamp,
        product_similarity.product_b as product,
        sum(product_similarity.cosine_similarity) as similarity_sum
    from held
    inner join product_similarity
        on product_similarity.snapshot_at = {{ snapshot_at('held.event_timestamp') }}
        and product_similarity.product_a = held.product
    group by all
),

final as (
    select
        points.customer_id,
        points.event_timestamp,
        products.product,
        held.product is not null as is_held,
        cast(coalesce(similarity_sums.similarity_sum / held_counts.products_held, 0) as double) as affinity_score
    from points
    cross join products
    left join held
        on points.customer_id = held.customer_id
        and points.event_timestamp = held.event_timestamp
        and products.product = held.product
    left join held_counts
        on points.customer_id = held_counts.customer_id
        and points.event_timestamp = held_counts.event_timestamp
    left join similarity_sums
        on points.customer_id = similarity_sums.customer_id
        and points.event_timestamp = similarity_sums.event_timestamp
        and products.product = similarity_sums.product
)

select * from final
