{#- One row per card: its BIN, issuer, network, type and expiry as last seen, and its first and
    last attempt. -#}

with

authorizations as (
    select * from {{ ref('fct_authorizations') }}
),

last_seen as (
    {#- One max_by (arg_max) of a struct instead of one per column: a single aggregate state per card. #}
    select
        card_id,
        max_by(
            {{ struct_of(['customer_id', 'card_bin', 'issuer_id', 'issuer_country', 'card_network', 'card_type', 'card_expires_on']) }},
            attempted_at
        ) as last_seen_values,
        min(attempted_at) as first_attempted_at,
        max(attempted_at) as last_attempted_at,
        count(*) as attempts
    from authorizations
    group by card_id
),

final as (
    select
        card_id,
        last_seen_values.customer_id,
        last_seen_values.card_bin,
        last_seen_values.issuer_id,
        last_seen_values.issuer_country,
        last_seen_values.card_network,
        last_seen_values.card_type,
        last_seen_values.card_expires_on,
        first_attempted_at,
        last_attempted_at,
        attempts
    from last_seen
)

select * from final
