{#- The call of a registered model's scoring function with its features in manifest order:

        select attempt_id, {{ score('issuer_decline', 'features') }} as decline_probability
        from {{ ref('training_issuer_decline') }} as features

    expands to score_issuer_decline(CAST("features"."<feature>" AS DOUBLE), ...) with quoted
    identifiers (on Spark: cast(features.`<feature>` as double)). On DuckDB the call is written
    by payloom_score_call (registered by the udfs.dbt_plugin plugin from the model registry, the
    same code as udfs.sql_calls.score_call), so it always matches the promoted version. On Spark
    it is written the same way from var score_models ({model: {version, features}}), which
    `payloom build --target spark` passes with the Spark SQL functions of the same registry
    (macros/engines/register_score_functions.sql). -#}
{% macro score(model_name, relation_alias=none) %}
    {{- return(adapter.dispatch('score')(model_name, relation_alias)) -}}
{% endmacro %}

{% macro default__score(model_name, relation_alias=none) %}
{%- if execute -%}
    {{ return(run_query("select payloom_score_call('" ~ model_name ~ "', '" ~ (relation_alias or '') ~ "')").columns[0].values()[0]) }}
{%- else -%}
    {{ return('score_' ~ model_name ~ '()') }}
{%- endif -%}
{% endmacro %}

{% macro spark__score(model_name, relation_alias=none) %}
{%- set models = var('score_models', {}) -%}
{%- if execute and model_name not in models -%}
    {{ exceptions.raise_compiler_error("No model " ~ model_name ~ " in var score_models (models: " ~ (models.keys() | sort | join(', ') or 'none')
        ~ "): train and promote it, then build with `payloom build --target spark`, which passes the registry's models.") }}
{%- endif -%}
{%- set prefix = (relation_alias ~ '.') if relation_alias else '' -%}
{%- set arguments = [] -%}
{%- for feature in models.get(model_name, {}).get('features', []) -%}
    {#- feature names follow payloom's identifier rule (letters, digits, _; checked when the
        registry loads them), so backticks cannot occur in them; the quotes allow reserved words -#}
    {%- do arguments.append('cast(' ~ prefix ~ '`' ~ feature ~ '` as double)') -%}
{%- endfor -%}
{{ return('score_' ~ model_name ~ '(' ~ (arguments | join(', ')) ~ ')') }}
{% endmacro %}

{#- The promoted version of a registered model, or none when it is not registered (the score
    models then build empty). DuckDB: payloom_model_version (udfs.dbt_plugin); Spark: var
    score_models. -#}
{% macro model_version(model_name) %}
    {{- return(adapter.dispatch('model_version')(model_name)) -}}
{% endmacro %}

{% macro default__model_version(model_name) %}
{%- if execute -%}
    {{ return(run_query("select payloom_model_version('" ~ model_name ~ "')").columns[0].values()[0]) }}
{%- else -%}
    {{ return(none) }}
{%- endif -%}
{% endmacro %}

{% macro spark__model_version(model_name) %}
{{ return(var('score_models', {}).get(model_name, {}).get('version')) }}
{% endmacro %}
