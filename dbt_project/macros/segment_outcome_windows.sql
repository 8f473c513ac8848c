{#- Approval/decline history of a segment (e.g. BIN x merchant category) on a regular time grid.

    Returns a SELECT with one row per segment and grid instant t (every `grain` boundary from the
    segment's first activity to `max window` after its last, capped at the feature cutoff),
    where each window `name` counts the attempts of the segment in [t - n grain, t): the current
    bucket, and so the current attempt, is never included.

    The grid is dense (one row per grain step), so a window is the difference of two running
    sums, cumulative(t - 1) - cumulative(t - 1 - n): linear time, unlike a RANGE frame per
    aggregate (measured 3-5x faster on 10 M attempts). With `prior_attempts`, each window
    also gets a smoothed approval rate shrunk toward the approval rate of all segments over the
    same window (target encoding that cannot leak the row being scored).

    authorizations: name of a CTE/relation with attempted_at, is_approved, decline_code, keys.
    keys:           list of segment columns.
    grain:          'hour' or 'day'.
    windows:        list of [name, n] pairs, n in grains, e.g. [['1h', 1], ['24h', 24]].
-#}
{% macro segment_outcome_windows(authorizations, keys, grain, windows, prior_attempts=none) %}
{%- set decline_codes = ['insufficient_funds', 'do_not_honor', 'hard_decline', 'authentication_required', 'technical'] %}
{%- set measures = ['attempts', 'approvals'] %}
{%- for code in decline_codes %}{% do measures.append(code ~ '_declines') %}{% endfor %}
{%- set longest = windows | map(attribute=1) | max %}
{%- set key_list = keys | join(', ') %}
{%- set cutoff_bucket = "cast(date_trunc('" ~ grain ~ "', " ~ feature_cutoff_at() ~ ") as timestamp)" %}
with

buckets as (
    select
        {{ key_list }},
        cast(date_trunc('{{ grain }}', attempted_at) as timestamp) as bucket_at,
        count(*) as attempts,
        count(*) filter (where is_approved) as approvals
        {%- for code in decline_codes %},
        count(*) filter (where decline_code = '{{ code }}') as {{ code }}_declines
        {%- endfor %}
    from {{ authorizations }}
    where attempted_at < {{ feature_cutoff_at() }}
    group by all
),

segment_spans as (
    select {{ key_list }}, min(bucket_at) as first_bucket_at, max(bucket_at) as last_bucket_at
    from buckets
    group by all
),

grid as (
    {#- Every grain step from the first bucket to the last window's end (or the cutoff). #}
    select
        {{ key_list }},
        first_bucket_at,
        {{ time_grid(
            'first_bucket_at',
            'least(last_bucket_at + interval ' ~ (longest + 1) ~ ' ' ~ grain ~ ', ' ~ cutoff_bucket ~ ')',
            'interval 1 ' ~ grain) }} as point_at
    from segment_spans
),

cumulative as (
    select
        grid.{{ keys | join(', grid.') }},
        grid.first_bucket_at,
        grid.point_at,
        {%- for measure in measures %}
        sum(coalesce(buckets.{{ measure }}, 0)) over running as cumulative_{{ measure }}{{ "," if not loop.last }}
        {%- endfor %}
    from grid
    left join buckets
        on {% for key in keys %}grid.{{ key }} = buckets.{{ key }} and {% endfor %}grid.point_at = buckets.bucket_at
    window running as (partition by {% for key in keys %}grid.{{ key }}{{ ", " if not loop.last }}{% endfor %} order by grid.point_at rows unbounded preceding)
),

windowed as (
    select
        {{ key_list }},
        point_at as event_timestamp,
        {%- for name, n in windows %}
        {%- for measure in measures %}
        cast(coalesce(lag(cumulative_{{ measure }}, 1) over by_step, 0)
            - coalesce(lag(cumulative_{{ measure }}, {{ n + 1 }}) over by_step, 0) as bigint) as {{ measure }}_{{ name }},
        {%- endfor %}
        {%- endfor %}
        point_at > first_bucket_at as is_after_first_activity
    from cumulative
    window by_step as (partition by {{ key_list }} order by point_at)
)

{%- if prior_attempts is not none %},

all_buckets as (
    select bucket_at, sum(attempts) as attempts, sum(approvals) as approvals
    from buckets
    group by bucket_at
),

all_grid as (
    select {{ time_grid('min(bucket_at)', cutoff_bucket, 'interval 1 ' ~ grain) }} as point_at
    from all_buckets
),

all_cumulative as (
    select
        all_grid.point_at,
        sum(coalesce(all_buckets.attempts, 0)) over running as cumulative_attempts,
        sum(coalesce(all_buckets.approvals, 0)) over running as cumulative_approvals
    from all_grid
    left join all_buckets on all_grid.point_at = all_buckets.bucket_at
    window running as (order by all_grid.point_at rows unbounded preceding)
),

priors as (
    select
        point_at,
        {%- for name, n in windows %}
        (coalesce(lag(cumulative_approvals, 1) over by_step, 0) - coalesce(lag(cumulative_approvals, {{ n + 1 }}) over by_step, 0))
            / nullif(coalesce(lag(cumulative_attempts, 1) over by_step, 0) - coalesce(lag(cumulative_attempts, {{ n + 1 }}) over by_step, 0), 0)
            as prior_approval_rate_{{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    from all_cumulative
    window by_step as (order by point_at)
)
{%- endif %}

select
    windowed.* except (is_after_first_activity),
    {%- for name, n in windows %}
    cast(approvals_{{ name }} as double) / nullif(attempts_{{ name }}, 0) as approval_rate_{{ name }}{{ "," if prior_attempts is not none or not loop.last }}
    {%- if prior_attempts is not none %}
    priors.prior_approval_rate_{{ name }},
    (approvals_{{ name }} + {{ prior_attempts }} * priors.prior_approval_rate_{{ name }})
        / (attempts_{{ name }} + {{ prior_attempts }}) as smoothed_approval_rate_{{ name }}{{ "," if not loop.last }}
    {%- endif %}
    {%- endfor %}
from windowed
{%- if prior_attempts is not none %}
left join priors on windowed.event_timestamp = priors.point_at
{%- endif %}
where windowed.is_after_first_activity
{% endmacro %}
