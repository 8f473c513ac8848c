{#- One row per clean authorization attempt: the issuer-decline training set. Features as of the
    attempt (int_authorization_features); labels is_declined and decline_code. -#}

with

authorization_features as (
    select * from {{ ref('int_authorization_features') }}
),

final as (
    select
        * except (is_approved, decline_code),
        not is_approved as is_declined,
        decline_code
    from authorization_features
)

select * from final
