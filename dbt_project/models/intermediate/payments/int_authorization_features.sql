{{ config(materialized='view', schema='intermediate') }}

{#- One row per clean authorization attempt with every feature as of the attempt (events strictly
    before it): card features at the attempt's own instant, segment features at the last grid
    boundary at or before it (an as-of join, macro asof_left_join), request-time features known when the attempt is sent,
    their numeric encodings (compiled models take numbers), and the customer's other instruments
    that were approved before (the "offer another instrument" action needs one). The outcome
    columns is_approved and decline_code come last; training sets turn them into labels, scoring
    models never read them. -#}

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

-- When each of a customer's cards was first approved: a card is an alternative instrument for
-- the customer's other cards from that instant on.
card_first_approvals as (
    select customer_id, card_id, min(attempted_at) as first_approved_at
    from authorizations
    where is_approved
    group by customer_id, card_id
),

other_approved_instruments as (
    select authorizations.attempt_id, count(*) as other_approved_cards
    from authorizations
    inner join card_first_approvals
        on authorizations.customer_id = card_first_approvals.customer_id
        and authorizations.card_id <> card_first_approvals.card_id
        and card_first_approvals.first_approved_at < authorizations.attempted_at
    group by authorizations.attempt_id
),

joined as (
    select
        authorizations.attempt_id,
        authorizations.attempted_at,
        authorizations.card_id,
        authorizations.customer_id,
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
        -- Numeric encodings of the request's categories (optimisations are `+`-joined, sorted).
        cast(contains('+' || authorizations.optimization || '+', '+3ds+') as integer) as uses_3ds,
        cast(contains('+' || authorizations.optimization || '+', '+network_token+') as integer) as uses_network_token,
        cast(contains('+' || authorizations.optimization || '+', '+retry+') as integer) as uses_retry,
        cast(contains('+' || authorizations.optimization || '+', '+iso_format+') as integer) as uses_iso_format,
        cast(authorizations.card_type = 'credit' as integer) as is_credit_card,
        cast(authorizations.card_type = 'debit' as integer) as is_debit_card,
        cast(authorizations.card_network = 'visa' as integer) as is_visa,
        cast(authorizations.card_network = 'mastercard' as integer) as is_mastercard,
        cast(authorizations.card_network = 'amex' as integer) as is_amex,
        cast(authorizations.transaction_type = 'recurring' as integer) as is_recurring,
        cast(authorizations.transaction_type = 'subscription_renewal' as integer) as is_subscription_renewal,
        card_features.* except (card_id, event_timestamp),
        bin_merchant_category_features.attempts_30d as bin_merchant_category_attempts_30d,
        bin_merchant_category_features.smoothed_approval_rate_30d as bin_merchant_category_approval_rate_30d,
        issuer_merchant_category_features.attempts_30d as issuer_merchant_category_attempts_30d,
        issuer_merchant_category_features.smoothed_approval_rate_30d as issuer_merchant_category_approval_rate_30d,
        gateway_segment_features.approval_rate_1h as gateway_segment_approval_rate_1h,
        gateway_segment_features.approval_rate_24h as gateway_segment_approval_rate_24h,
        gateway_segment_features.approval_rate_7d as gateway_segment_approval_rate_7d,
        coalesce(other_approved_instruments.other_approved_cards, 0) as other_approved_cards,
        authorizations.is_approved,
        authorizations.decline_code
    from authorizations
    left join card_features
        on authorizations.card_id = card_features.card_id
        and authorizations.attempted_at = card_features.event_timestamp
    {{ asof_left_join('authorizations', 'bin_merchant_category_features',
        ['card_bin', 'merchant_category'], 'attempted_at', 'event_timestamp') }}
    {{ asof_left_join('authorizations', 'issuer_merchant_category_features',
        ['issuer_id', 'merchant_category'], 'attempted_at', 'event_timestamp') }}
    {{ asof_left_join('authorizations', 'gateway_segment_features',
        ['gateway', 'card_network', 'issuer_country', 'transaction_type'], 'attempted_at', 'event_timestamp') }}
    left join other_approved_instruments
        on authorizations.attempt_id = other_approved_instruments.attempt_id
),

final as (
    select * from joined
)

select * from final
