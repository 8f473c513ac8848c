{#- How the large fact tables are kept up to date. DuckDB: `incremental` (delete+insert on the
    unique key). Spark tables here are plain Parquet, which has no row-level delete or MERGE,
    so they are rebuilt in full (`table`); with a Delta or Iceberg catalog, `incremental` with
    the `merge` strategy would do what delete+insert does on DuckDB. -#}
{% macro fact_materialization() -%}
    {{ return(adapter.dispatch('fact_materialization')()) }}
{%- endmacro %}

{% macro default__fact_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__fact_materialization() -%}
    {{ return('table') }}
{%- endmacro %}
