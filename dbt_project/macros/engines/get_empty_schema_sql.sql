{#- Model contracts state column types as DuckDB spells them (varchar, as Feast reads them).
    dbt checks a contract on Spark by casting NULLs to those types, and Spark's VARCHAR needs a
    length, so on Spark `varchar` is read as `string` (what the model's columns are). -#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set translated = {} -%}
    {%- for name, column in columns.items() -%}
        {%- set copy = {} -%}
        {%- do copy.update(column) -%}
        {%- if (column.get('data_type') or '') | lower == 'varchar' -%}
            {%- do copy.update({'data_type': 'string'}) -%}
        {%- endif -%}
        {%- do translated.update({name: copy}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(translated)) }}
{%- endmacro %}
