{#- One row per clean authorization attempt: the issuer-decline training set. Every feature is
    as of the attempt (events strictly before it): card features at the attempt's own instant,
    segment features at the last grid boundary at or before it (ASOF JOIN), plus request-time
    features known when the attempt is sent. Labels: is_declined and decline_code. -#}

with

authorizations as (
    select * from {{ ref('fct_authorizations') }}
),

card_features as (
    select * from {{ ref('card_features') }}
),

bin_merchant_category_features as (
    select * from {{ ref('bin_merchant_category_features') }}
),

issuer_merchant_category_features as (
    select * from {{ ref('issuer_merchant_category_features') }}
),

gateway_segment_features as (
    select * from {{ ref('gateway_segment_features') }}
),

joined as (
    select
        authorizations.attempt_id,
        authorizations.attempted_at,
        authorizations.card_id,
        authorizations.card_bin,
        authorizations.issuer_id,
        authorizations.merchant_category,
        authorizations.gateway,
        authorizations.optimization,
        authorizations.card_network,
        authorizations.card_type,
        authorizations.issuer_country,
        authorizations.transaction_type,
        authorizations.usd_amount_minor,
        authorizations.hour_of_day,
        authorizations.day_of_week,
        authorizations.day_of_month,
        authorizations.days_to_card_expiry,
        card_features.* exclude (card_id, event_timestamp),
        bin_merchant_category_features.attempts_30d as bin_merchant_category_attempts_30d,
        bin_merchant_category_features.smoothed_approval_rate_30d as bin_merchant_category_approval_rate_30d,
        issuer_merchant_category_features.attempts_30d as issuer_merchant_category_attempts_30d,
        issuer_merchant_category_features.smoothed_approval_rate_30d as issuer_merchant_category_approval_rate_30d,
        gateway_segment_features.approval_rate_1h as gateway_segment_approval_rate_1h,
        gateway_segment_features.approval_rate_24h as gateway_segment_approval_rate_24h,
        gateway_segment_features.approval_rate_7d as gateway_segment_approval_rate_7d,
        not authorizations.is_approved as is_declined,
        authorizations.decline_code
    from authorizations
    left join card_features
        on authorizations.card_id = card_features.card_id
        and authorizations.attempted_at = card_features.event_timestamp
    asof left join bin_merchant_category_features
        on authorizations.card_bin = bin_merchant_category_features.card_bin
        and authorizations.merchant_category = bin_merchant_category_features.merchant_category
        and authorizations.attempted_at >= bin_merchant_category_features.event_timestamp
    asof left join issuer_merchant_category_features
        on authorizations.issuer_id = issuer_merchant_category_features.issuer_id
        and authorizations.merchant_category = issuer_merchant_category_features.merchant_category
        and authorizations.attempted_at >= issuer_merchant_category_features.event_timestamp
    asof left join gateway_segment_features
        on authorizations.gateway = gateway_segment_features.gateway
        and authorizations.card_network = gateway_segment_features.card_network
        and authorizations.issuer_country = gateway_segment_features.issuer_country
        and authorizations.transaction_type = gateway_segment_features.transaction_type
        and authorizations.attempted_at >= gateway_segment_features.event_timestamp
),

final as (
    select * from joined
)

select * from final
