{#- Use the folder's schema as is (staging, marts, ...) instead of prefixing the target schema,
    so analysts query marts.fct_authorizations rather than main_marts.fct_authorizations. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
