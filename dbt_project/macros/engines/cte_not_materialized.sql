{#- The hint that makes a CTE read twice stream twice instead of being materialised:
    `name as {{ cte_not_materialized() }} (select ...)`. DuckDB would otherwise keep the CTE's
    rows in memory; Spark never materialises CTEs, so it gets nothing. -#}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized')()) }}
{%- endmacro %}

{% macro default__cte_not_materialized() -%}
{%- endmacro %}

{% macro duckdb__cte_not_materialized() -%}
    not materialized
{%- endmacro %}
