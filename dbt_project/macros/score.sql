{#- The call of a registered model's scoring function with its features in manifest order:

        select attempt_id, {{ score('issuer_decline', 'features') }} as decline_probability
        from {{ ref('training_issuer_decline') }} as features

    expands to score_issuer_decline(cast(features.<feature> as double), ...). The call is written
    by payloom_score_call (registered by the udfs.dbt_plugin plugin from the model registry, the
    same code as udfs.sql_calls.score_call), so it always matches the promoted version. -#}
{% macro score(model_name, relation_alias=none) %}
{%- if execute -%}
    {{ run_query("select payloom_score_call('" ~ model_name ~ "', '" ~ (relation_alias or '') ~ "')").columns[0].values()[0] }}
{%- else -%}
    score_{{ model_name }}()
{%- endif -%}
{% endmacro %}
