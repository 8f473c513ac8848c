{#- One row per card and feature timestamp. A row stamped event_timestamp = t describes the card
    from its attempts strictly before t: windows are [t - N days, t). Timestamps are every
    instant the card was attempted (the training rows) plus feature_cutoff_at (the current row
    the online store serves). Attempts at the same instant never see each other. -#}

{%- set decline_codes = ['insufficient_funds', 'do_not_honor', 'hard_decline', 'authentication_required', 'technical'] %}
{%- set code_flags = [] %}
{%- for code in decline_codes %}{% do code_flags.append("case when decline_code = '" ~ code ~ "' then 1 else 0 end") %}{% endfor %}

with

authorizations as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_authorizations') }}
),

attempt_events as (
    select
        card_id,
        attempted_at as event_timestamp,
        1 as is_attempt,
        case when is_approved then 0 else 1 end as is_decline,
        case when is_approved then attempted_at end as approved_at,
        decline_code,
        usd_amount_minor,
        merchant_id
    from authorizations
),

cutoff_points as (
    {#- A query point per card at the cutoff: carries no event of its own. #}
    select
        card_id,
        {{ feature_cutoff_at() }} as event_timestamp,
        0 as is_attempt,
        0 as is_decline,
        cast(null as timestamp) as approved_at,
        cast(null as string) as decline_code,
        cast(null as bigint) as usd_amount_minor,
        cast(null as string) as merchant_id
    from authorizations
    group by card_id
    having min(attempted_at) < {{ feature_cutoff_at() }}
),

points as (
    select * from attempt_events
    union all
    select * from cutoff_points
),

windowed as (
    {#- Counters are packed (see packed_count_sum): one window aggregate per packed group. #}
    select
        card_id,
        event_timestamp,
        lag(event_timestamp) over by_time as previous_point_at,
        {%- for days in [1, 7, 90] %}
        {{ packed_count_sum(['is_attempt', 'is_decline'], 'last_' ~ days ~ 'd') }} as packed_counts_{{ days }}d,
        {%- endfor %}
        {{ packed_count_sum(['is_attempt', 'is_decline'] + code_flags[:2], 'last_30d') }} as packed_counts_30d,
        {{ packed_count_sum(code_flags[2:], 'last_30d') }} as packed_code_counts_30d,
        max(approved_at) over all_before as last_approved_at,
        sum(is_attempt) over all_before as attempts_before,
        avg(usd_amount_minor) over last_30d as avg_usd_amount_minor_30d,
        max(usd_amount_minor) over last_30d as max_usd_amount_minor_30d,
        stddev_samp(usd_amount_minor) over last_30d as stddev_usd_amount_minor_30d,
        {{ count_distinct_over('merchant_id', 'last_30d') }} as distinct_merchants_30d,
        is_attempt
    from points
    window
        by_time as (partition by card_id order by event_timestamp),
        {%- for days in [1, 7, 30, 90] %}
        last_{{ days }}d as (
            partition by card_id order by event_timestamp
            {{ range_before(days) }}
        ),
        {%- endfor %}
        all_before as (
            partition by card_id order by event_timestamp
            {{ range_before() }}
        )
),

first_row_per_instant as (
    {#- Attempts at the same instant have identical features: keep one row per instant. #}
    select *
    from windowed
    where previous_point_at is null or previous_point_at < event_timestamp
),

final as (
    select
        card_id,
        event_timestamp,
        {%- for days in [1, 7, 30, 90] %}
        {%- set attempts -%} {{ unpacked_count('packed_counts_' ~ days ~ 'd', 0) }} {%- endset %}
        {%- set declines -%} {{ unpacked_count('packed_counts_' ~ days ~ 'd', 1) }} {%- endset %}
        {{ attempts }} as attempts_{{ days }}d,
        {{ declines }} as declines_{{ days }}d,
        cast({{ declines }} as double) / nullif({{ attempts }}, 0) as decline_ratio_{{ days }}d,
        {%- endfor %}
        {%- for code in decline_codes %}
        {%- if loop.index0 < 2 %}
        {{ unpacked_count('packed_counts_30d', loop.index0 + 2) }} as {{ code }}_declines_30d,
        {%- else %}
        {{ unpacked_count('packed_code_counts_30d', loop.index0 - 2) }} as {{ code }}_declines_30d,
        {%- endif %}
        {%- endfor %}
        cast({{ boundaries_between('second', 'last_approved_at', 'event_timestamp') }} as double) / 86400 as days_since_last_approval,
        cast(coalesce(attempts_before, 0) as bigint) as attempts_before,
        cast(avg_usd_amount_minor_30d as double) as avg_usd_amount_minor_30d,
        cast(max_usd_amount_minor_30d as bigint) as max_usd_amount_minor_30d,
        cast(stddev_usd_amount_minor_30d as double) as stddev_usd_amount_minor_30d,
        cast(distinct_merchants_30d as bigint) as distinct_merchants_30d
    from first_row_per_instant
)

select * from final
