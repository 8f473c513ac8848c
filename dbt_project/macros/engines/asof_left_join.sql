{#- A join clause that gives each row of `left` the row of `right` with the same `keys` and the
    latest `right_time` at or before the left row's `left_time` (NULLs when there is none):

        from authorizations
        {{ asof_left_join('authorizations', 'gateway_segment_features', ['gateway'], 'attempted_at', 'event_timestamp') }}

    `left` and `right` are relation or CTE names; `right` stays the alias of the joined rows.
    DuckDB has ASOF JOIN. Spark gets the same rows from one sorted pass: the distinct left
    instants and the right rows are merged per key in time order (right rows first on ties, so
    "at or before" holds), a running max carries the latest right instant to every left
    instant, and that instant is joined back to its right row. -#}
{% macro asof_left_join(left, right, keys, left_time, right_time) -%}
    {{ return(adapter.dispatch('asof_left_join')(left, right, keys, left_time, right_time)) }}
{%- endmacro %}

{% macro default__asof_left_join(left, right, keys, left_time, right_time) -%}
asof left join {{ right }}
        on {% for key in keys %}{{ left }}.{{ key }} = {{ right }}.{{ key }}
        and {% endfor %}{{ left }}.{{ left_time }} >= {{ right }}.{{ right_time }}
{%- endmacro %}

{% macro spark__asof_left_join(left, right, keys, left_time, right_time) -%}
{%- set key_list = keys | join(', ') -%}
left join (
        select asof_matches.asof_probe_at, {{ right }}.*
        from (
            select
                {{ key_list }},
                asof_at as asof_probe_at,
                max(asof_right_at) over (
                    partition by {{ key_list }} order by asof_at, asof_is_probe
                    rows between unbounded preceding and current row
                ) as asof_matched_at,
                asof_is_probe
            from (
                select distinct {{ key_list }}, {{ left_time }} as asof_at, 1 as asof_is_probe, cast(null as timestamp) as asof_right_at
                from {{ left }}
                union all
                select {{ key_list }}, {{ right_time }}, 0, {{ right_time }}
                from {{ right }}
            ) as asof_events
        ) as asof_matches
        inner join {{ right }}
            on {% for key in keys %}asof_matches.{{ key }} = {{ right }}.{{ key }}
            and {% endfor %}asof_matches.asof_matched_at = {{ right }}.{{ right_time }}
        where asof_matches.asof_is_probe = 1
    ) as {{ right }}
        on {% for key in keys %}{{ left }}.{{ key }} = {{ right }}.{{ key }}
        and {% endfor %}{{ left }}.{{ left_time }} = {{ right }}.asof_probe_at
{%- endmacro %}
