{#- ISO day of the week of a timestamp or date: 1 = Monday ... 7 = Sunday. -#}
{% macro iso_day_of_week(value) -%}
    {{ return(adapter.dispatch('iso_day_of_week')(value)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(value) -%}
    isodow({{ value }})
{%- endmacro %}

{% macro spark__iso_day_of_week(value) -%}
    extract(dayofweek_iso from {{ value }})
{%- endmacro %}
