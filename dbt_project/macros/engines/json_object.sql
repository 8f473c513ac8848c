{#- A JSON object text with one key per (name, expression) pair, NULL values kept as null. -#}
{% macro json_object(pairs) -%}
    {{ return(adapter.dispatch('json_object')(pairs)) }}
{%- endmacro %}

{% macro default__json_object(pairs) -%}
    to_json(struct_pack(
        {%- for name, expression in pairs %}
        {{ name }} := {{ expression }}{{ "," if not loop.last }}
        {%- endfor %}
    ))
{%- endmacro %}

{% macro spark__json_object(pairs) -%}
    to_json(named_struct(
        {%- for name, expression in pairs %}
        '{{ name }}', {{ expression }}{{ "," if not loop.last }}
        {%- endfor %}
    ), map('ignoreNullFields', 'false'))
{%- endmacro %}
