{#- One row per gateway segment (gateway x card network x issuer country x transaction type)
    and hour boundary t: the segment's success rates over [t - 1 h, t), [t - 24 h, t) and
    [t - 7 days, t). The routing features: what each gateway did lately for this kind of card. -#}

with

authorizations as (
    select * from {{ ref('fct_authorizations') }}
),

final as (
    {{ segment_outcome_windows(
        'authorizations', ['gateway', 'card_network', 'issuer_country', 'transaction_type'], 'hour',
        [['1h', 1], ['24h', 24], ['7d', 168]]) }}
)

select * from final
