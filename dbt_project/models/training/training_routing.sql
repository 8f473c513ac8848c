{#- One row per clean authorization attempt with a known logging propensity: the logged routing
    and optimisation decision, its propensity, the outcome (reward), and the context as of the
    attempt (card and gateway-segment features, request-time features). Rows with an unknown
    propensity are excluded here (IPW needs it) but stay in fct_authorizations. -#}

with

training_issuer_decline as (
    select * from {{ ref('training_issuer_decline') }}
),

authorizations as (
    select attempt_id, payment_id, decision_propensity, is_approved from {{ ref('fct_authorizations') }}
),

final as (
    select
        authorizations.payment_id,
        authorizations.decision_propensity,
        authorizations.is_approved,
        training_issuer_decline.* except (is_declined, decline_code),
        training_issuer_decline.decline_code
    from training_issuer_decline
    inner join authorizations on training_issuer_decline.attempt_id = authorizations.attempt_id
    where authorizations.decision_propensity is not null
)

select * from final
