{#- One row per card BIN x merchant category and day boundary t: approval and decline patterns
    of the segment's attempts in [t - 30 days, t), with the approval rate smoothed toward the
    all-segment rate of the same window (target encoding that never sees the scored row). -#}

with

authorizations as (
    select * from {{ ref('fct_authorizations') }}
),

final as (
    {{ segment_outcome_windows(
        'authorizations', ['card_bin', 'merchant_category'], 'day', [['30d', 30]],
        prior_attempts=var('target_encoding_prior_attempts')) }}
)

select * from final
