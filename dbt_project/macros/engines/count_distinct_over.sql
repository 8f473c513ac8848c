{#- count(distinct column) over a named window. Spark has no DISTINCT window aggregates: it
    counts the window's set of values instead (NULLs are left out by both). -#}
{% macro count_distinct_over(column, window) -%}
    {{ return(adapter.dispatch('count_distinct_over')(column, window)) }}
{%- endmacro %}

{% macro default__count_distinct_over(column, window) -%}
    count(distinct {{ column }}) over {{ window }}
{%- endmacro %}

{% macro spark__count_distinct_over(column, window) -%}
    size(collect_set({{ column }}) over {{ window }})
{%- endmacro %}
