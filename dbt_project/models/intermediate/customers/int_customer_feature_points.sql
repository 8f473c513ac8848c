{{ config(materialized='table') }}

{#- A table: five models read these points, and as a view each of them re-ran its grouping of
    every authorization (about 2 s each at 10 M attempts) for a few hundred thousand rows. -#}

{#- The instants at which customer features are computed: every offer's offered_at (the
    cross-sell training rows) and the feature cutoff for every known customer (the current
    row). Customers come from the customers table and from payments, so payments-only data
    still gets RFM features. -#}

with

offers as (
    select * from {{ ref('stg_raw__offers') }}
),

customers as (
    select customer_id, created_at from {{ ref('stg_raw__customers') }}
),

authorizations as (
    select customer_id, min(attempted_at) as first_attempted_at
    from {{ ref('fct_authorizations') }}
    group by customer_id
),

known_customers as (
    select customer_id, min(known_at) as known_at
    from (
        select customer_id, created_at as known_at from customers
        union all
        select customer_id, first_attempted_at from authorizations
    )
    group by customer_id
),

final as (
    select distinct customer_id, offered_at as event_timestamp from offers
    union
    select customer_id, {{ feature_cutoff_at() }} from known_customers
    where known_at < {{ feature_cutoff_at() }}
)

select * from final
