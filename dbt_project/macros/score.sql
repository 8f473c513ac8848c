{#- The call of a registered model's scoring function with its features in manifest order:

        select attempt_id, {{ score('issuer_decline', 'features') }} as decline_probability
        from {{ ref('training_issuer_decline') }} as features

    expands to score_issuer_decline(cast(features.<feature> as double), ...). The feature list
    comes from the model registry at run time (payloom_model_features, registered by the
    udfs.dbt_plugin plugin), so it always matches the promoted version. -#}
{% macro score(model_name, relation_alias=none) %}
{%- if execute -%}
    {%- set features = run_query("select unnest(payloom_model_features('" ~ model_name ~ "'))").columns[0].values() -%}
    {%- set prefix = relation_alias ~ '.' if relation_alias else '' -%}
    score_{{ model_name }}(
        {%- for feature in features %}cast({{ prefix }}{{ feature }} as double){{ ", " if not loop.last }}{% endfor -%}
    )
{%- else -%}
    score_{{ model_name }}()
{%- endif -%}
{% endmacro %}
