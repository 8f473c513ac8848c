{#- A timestamp later than any event: the open end of a validity interval. -#}
{% macro timestamp_infinity() -%}
    {{ return(adapter.dispatch('timestamp_infinity')()) }}
{%- endmacro %}

{% macro default__timestamp_infinity() -%}
    cast('infinity' as timestamp)
{%- endmacro %}

{% macro spark__timestamp_infinity() -%}
    cast('9999-12-31 23:59:59.999999' as timestamp)
{%- endmacro %}
