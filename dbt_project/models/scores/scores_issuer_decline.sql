{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    schema='scores',
) }}

{#- Batch scores of every clean attempt: P(decline) from the compiled issuer_decline model,
    P(type | declined) from decline_type, and the action its decision policy picks. Incremental:
    each run scores the attempts not scored yet (late arrivals included: the filter is by
    attempt_id, not by time), so a score is what the model version of its run said. Rescore
    everything with a new model version by `dbt build --full-refresh --select scores_issuer_decline`.

    Before the models are trained (no registry, or no promoted version) the table is built empty,
    with a warning; the next run after training scores every attempt. -#}

{%- set decline_version = none -%}
{%- set type_version = none -%}
{%- if execute -%}
    {%- set decline_version = model_version('issuer_decline') -%}
    {%- set type_version = model_version('decline_type') -%}
    {%- if decline_version is none or type_version is none -%}
        {{ log("WARNING: scores_issuer_decline is built empty: models issuer_decline and decline_type must both be "
               ~ "registered (found issuer_decline=" ~ decline_version ~ ", decline_type=" ~ type_version ~ "). "
               ~ "Train them with `payloom train`, then build again.", info=true) }}
    {%- endif -%}
{%- endif -%}
{%- set models_ready = decline_version is not none and type_version is not none -%}

with

authorization_features as (
    select * from {{ ref('int_authorization_features') }}
    {% if is_incremental() -%}
    where attempt_id not in (select attempt_id from {{ this }})
    {%- endif %}
),

{% if models_ready -%}
scored as (
    select
        features.*,
        {{ score('issuer_decline', 'features') }} as decline_probability,
        {{ score('decline_type', 'features') }} as decline_type
    from authorization_features as features
),

final as (
    select
        attempt_id,
        attempted_at,
        card_id,
        customer_id,
        '{{ decline_version }}' as decline_model_version,
        '{{ type_version }}' as type_model_version,
        decline_probability,
        decline_type.insufficient_funds as p_insufficient_funds,
        decline_type.do_not_honor as p_do_not_honor,
        decline_type.hard_decline as p_hard_decline,
        decline_type.authentication_required as p_authentication_required,
        decline_type.technical as p_technical,
        case greatest(
                decline_type.insufficient_funds, decline_type.do_not_honor, decline_type.hard_decline,
                decline_type.authentication_required, decline_type.technical)
            when decline_type.insufficient_funds then 'insufficient_funds'
            when decline_type.do_not_honor then 'do_not_honor'
            when decline_type.hard_decline then 'hard_decline'
            when decline_type.authentication_required then 'authentication_required'
            else 'technical'
        end as likely_decline_type,
        decline_action_issuer_decline(
            decline_probability, decline_type, other_approved_cards, attempts_before, decline_ratio_90d,
            gateway_segment_approval_rate_1h, gateway_segment_approval_rate_7d
        ) as recommended_action,
        {{ load_started_at() }} as scored_at
    from scored
)
{%- else -%}
final as (
    select
        attempt_id,
        attempted_at,
        card_id,
        customer_id,
        cast(null as string) as decline_model_version,
        cast(null as string) as type_model_version,
        cast(null as double) as decline_probability,
        cast(null as double) as p_insufficient_funds,
        cast(null as double) as p_do_not_honor,
        cast(null as double) as p_hard_decline,
        cast(null as double) as p_authentication_required,
        cast(null as double) as p_technical,
        cast(null as string) as likely_decline_type,
        cast(null as string) as recommended_action,
        {{ load_started_at() }} as scored_at
    from authorization_features
    where false
)
{%- endif %}

select * from final
