{#- Approval/decline history of a segment (e.g. BIN x merchant category) on a regular time grid.

    Returns a SELECT with one row per segment and grid instant t (every `grain` boundary from the
    segment's first activity to `max window` after its last, capped at the feature cutoff),
    where each window `name` counts the attempts of the segment in [t - n grain, t): the current
    bucket, and so the current attempt, is never included. With `prior_attempts`, each window
    also gets a smoothed approval rate shrunk toward the approval rate of all segments over the
    same window (target encoding that cannot leak the row being scored).

    authorizations: name of a CTE/relation with attempted_at, is_approved, decline_code, keys.
    keys:           list of segment columns.
    grain:          'hour' or 'day'.
    windows:        list of [name, n] pairs, n in grains, e.g. [['1h', 1], ['24h', 24]].
-#}
{% macro segment_outcome_windows(authorizations, keys, grain, windows, prior_attempts=none) %}
{%- set decline_codes = ['insufficient_funds', 'do_not_honor', 'hard_decline', 'authentication_required', 'technical'] %}
{%- set longest = windows | map(attribute=1) | max %}
{%- set key_list = keys | join(', ') %}
with

buckets as (
    select
        {{ key_list }},
        cast(date_trunc('{{ grain }}', attempted_at) as timestamp) as bucket_at,
        count(*) as attempts,
        count_if(is_approved) as approvals
        {%- for code in decline_codes %},
        count_if(decline_code = '{{ code }}') as {{ code }}_declines
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
    select
        {{ key_list }},
        unnest(generate_series(
            first_bucket_at + interval 1 {{ grain }},
            least(last_bucket_at + interval {{ longest + 1 }} {{ grain }}, cast(date_trunc('{{ grain }}', {{ feature_cutoff_at() }}) as timestamp)),
            interval 1 {{ grain }}
        )) as point_at
    from segment_spans
),

points as (
    select {{ key_list }}, bucket_at as point_at, attempts, approvals
        {%- for code in decline_codes %}, {{ code }}_declines{% endfor %}, false as is_grid
    from buckets
    union all
    select {{ key_list }}, point_at, 0, 0
        {%- for code in decline_codes %}, 0{% endfor %}, true
    from grid
),

windowed as (
    select
        {{ key_list }},
        point_at as event_timestamp,
        {%- for name, n in windows %}
        cast(coalesce(sum(attempts) over last_{{ name }}, 0) as bigint) as attempts_{{ name }},
        cast(coalesce(sum(approvals) over last_{{ name }}, 0) as bigint) as approvals_{{ name }},
        {%- for code in decline_codes %}
        cast(coalesce(sum({{ code }}_declines) over last_{{ name }}, 0) as bigint) as {{ code }}_declines_{{ name }},
        {%- endfor %}
        {%- endfor %}
        is_grid
    from points
    window
        {%- for name, n in windows %}
        last_{{ name }} as (
            partition by {{ key_list }} order by point_at
            range between interval {{ n }} {{ grain }} preceding and interval 1 microsecond preceding
        ){{ "," if not loop.last }}
        {%- endfor %}
)

{%- if prior_attempts is not none %},

all_buckets as (
    select bucket_at, sum(attempts) as attempts, sum(approvals) as approvals
    from buckets
    group by bucket_at
),

all_points as (
    select bucket_at as point_at, attempts, approvals from all_buckets
    union all
    select distinct point_at, 0, 0 from grid
),

priors as (
    select
        point_at,
        {%- for name, n in windows %}
        sum(approvals) over last_{{ name }} / nullif(sum(attempts) over last_{{ name }}, 0) as prior_approval_rate_{{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    from all_points
    window
        {%- for name, n in windows %}
        last_{{ name }} as (
            order by point_at
            range between interval {{ n }} {{ grain }} preceding and interval 1 microsecond preceding
        ){{ "," if not loop.last }}
        {%- endfor %}
    qualify row_number() over (partition by point_at order by attempts) = 1
)
{%- endif %}

select
    windowed.* exclude (is_grid),
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
where windowed.is_grid
{% endmacro %}
