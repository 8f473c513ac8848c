{#- DuckDB's date_diff(part, start, end): how many `part` boundaries lie between two instants
    (not how many whole parts elapsed: one second before midnight to midnight is 1 day).
    part: 'microsecond', 'second', 'day' or 'year'. -#}
{% macro boundaries_between(part, start, end) -%}
    {%- if part not in ('microsecond', 'second', 'day', 'year') -%}
        {{ exceptions.raise_compiler_error("boundaries_between supports microsecond, second, day and year, not '" ~ part ~ "'") }}
    {%- endif -%}
    {{ return(adapter.dispatch('boundaries_between')(part, start, end)) }}
{%- endmacro %}

{% macro default__boundaries_between(part, start, end) -%}
    date_diff('{{ part }}', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__boundaries_between(part, start, end) -%}
    {%- if part == 'microsecond' -%}
    (unix_micros(cast({{ end }} as timestamp)) - unix_micros(cast({{ start }} as timestamp)))
    {%- elif part == 'second' -%}
    (unix_seconds(cast({{ end }} as timestamp)) - unix_seconds(cast({{ start }} as timestamp)))
    {%- elif part == 'day' -%}
    datediff(cast({{ end }} as date), cast({{ start }} as date))
    {%- else -%}
    (year({{ end }}) - year({{ start }}))
    {%- endif -%}
{%- endmacro %}
