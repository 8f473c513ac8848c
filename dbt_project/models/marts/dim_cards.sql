{#- One row per card: its BIN, issuer, network, type and expiry as last seen, and its first and
    last attempt. -#}

with

authorizations as (
    select * from {{ ref('fct_authorizations') }}
),

last_seen as (
    {#- One arg_max of a struct instead of one per column: a single aggregate state per card. #}
    select
        card_id,
        arg_max(
            struct_pack(customer_id, card_bin, issuer_id, issuer_country, card_network, card_type, card_expires_on),
            attempted_at
        ) as last,
        min(attempted_at) as first_attempted_at,
        max(attempted_at) as last_attempted_at,
        count(*) as attempts
    from authorizations
    group by card_id
),

final as (
    select
        card_id,
        last.customer_id,
        last.card_bin,
        last.issuer_id,
        last.issuer_country,
        last.card_network,
        last.card_type,
        last.card_expires_on,
        first_attempted_at,
        last_attempted_at,
        attempts
    from last_seen
)

select * from final
