{#- A struct whose fields are the given columns, named after them: `{{ struct_of(['a', 'b']) }}`
    reads back as `.a`, `.b`. -#}
{% macro struct_of(columns) -%}
    {{ return(adapter.dispatch('struct_of')(columns)) }}
{%- endmacro %}

{% macro default__struct_of(columns) -%}
    struct_pack({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__struct_of(columns) -%}
    struct({{ columns | join(', ') }})
{%- endmacro %}
