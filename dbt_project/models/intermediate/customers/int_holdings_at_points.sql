{{ config(materialized='table') }}

{#- One row per customer feature point and product held at that instant (opened strictly
    before it, not closed by it). A table: three models read it. -#}

with

points as (
    select * from {{ ref('int_customer_feature_points') }}
),

holdings as (
    select * from {{ ref('stg_raw__product_holdings') }}
),

final as (
    select distinct
        points.customer_id,
        points.event_timestamp,
        holdings.product
    from points
    inner join holdings
        on points.customer_id = holdings.customer_id
        and holdings.opened_at < points.event_timestamp
        and (holdings.closed_at is null or holdings.closed_at >= points.event_timestamp)
)

select * from final
