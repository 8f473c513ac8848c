{#- on-run-start: create the registry's models as SQL functions where the engine does not have
    them yet. On DuckDB the dbt plugin udfs.dbt_plugin registers score_<model>, the policy macros
    and the lookups on every connection, so nothing happens here. On Spark, `payloom build
    --target spark` writes the functions (scoring.spark_score_functions) to the file of var
    score_functions_file, one CREATE OR REPLACE TEMPORARY FUNCTION statement a line; Spark reads
    it and each statement runs in dbt's SparkSession (every dbt thread shares that session).
    Without the var (no model promoted) nothing is created and the score models build empty. -#}
{% macro register_score_functions() -%}
    {{ return(adapter.dispatch('register_score_functions')()) }}
{%- endmacro %}

{% macro default__register_score_functions() -%}
{%- endmacro %}

{% macro spark__register_score_functions() -%}
{%- set functions_file = var('score_functions_file', none) -%}
{%- if execute and functions_file is not none -%}
    {%- set statements = run_query("select value from text.`" ~ functions_file ~ "`").columns[0].values() -%}
    {%- if statements | length == 0 -%}
        {{ exceptions.raise_compiler_error("The score functions file " ~ functions_file ~ " is empty or unreadable by Spark: "
            ~ "run `payloom build --target spark`, which writes it from the model registry.") }}
    {%- endif -%}
    {%- for statement in statements -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
    {{ log("created " ~ (statements | length) ~ " Spark SQL functions of models " ~ (var('score_models', {}).keys() | sort | join(', ')), info=true) }}
{%- endif -%}
{%- endmacro %}
