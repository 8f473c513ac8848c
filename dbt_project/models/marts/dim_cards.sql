{#- One row per card: its BIN, issuer, network, type and expiry as last seen, and its first and
    last attempt. -#}

with

authorizations as (
    select * from {{ ref('fct_authorizations') }}
),

final as (
    select
        card_id,
        arg_max(customer_id, attempted_at) as customer_id,
        arg_max(card_bin, attempted_at) as card_bin,
        arg_max(issuer_id, attempted_at) as issuer_id,
        arg_max(issuer_country, attempted_at) as issuer_country,
        arg_max(card_network, attempted_at) as card_network,
        arg_max(card_type, attempted_at) as card_type,
        arg_max(card_expires_on, attempted_at) as card_expires_on,
        min(attempted_at) as first_attempted_at,
        max(attempted_at) as last_attempted_at,
        count(*) as attempts
    from authorizations
    group by card_id
)

select * from final
