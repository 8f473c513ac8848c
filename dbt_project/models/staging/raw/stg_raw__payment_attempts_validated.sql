{{ config(materialized='table') }}

{#- Every raw attempt, typed, with the first contract violation as quarantine_reason (NULL when
    clean). stg_raw__payment_attempts keeps the clean rows; quarantined_rows the others. -#}

{%- set typed_columns = {
    'attempted_at': 'timestamp', 'amount_minor': 'bigint', 'card_expires_on': 'date',
    'decision_propensity': 'double', 'is_approved': 'boolean'} %}
{%- set text_columns = [
    'attempt_id', 'payment_id', 'card_id', 'customer_id', 'merchant_id', 'merchant_category',
    'currency_code', 'card_bin', 'issuer_id', 'issuer_country', 'card_network', 'card_type',
    'transaction_type', 'product_family', 'gateway', 'optimization', 'decline_code'] %}
{%- set normalised_columns = ['currency_code', 'issuer_country', 'card_network', 'card_type'] %}
{%- set required_columns = [
    'attempt_id', 'payment_id', 'attempted_at', 'card_id', 'customer_id', 'merchant_id',
    'merchant_category', 'amount_minor', 'currency_code', 'card_bin', 'issuer_id',
    'issuer_country', 'card_network', 'card_type', 'transaction_type', 'gateway',
    'optimization', 'is_approved'] %}

with

source as (
    select * from {{ source('raw', 'payment_attempts') }}
),

currencies as (
    select currency_code from {{ ref('currencies') }}
),

duplicated_ids as (
    select attempt_id
    from source
    where attempt_id is not null
    group by attempt_id
    having count(*) > 1
),

typed as (
    select
        {%- for column in text_columns %}
        {%- if column in ('currency_code', 'issuer_country') %}
        upper(cast(source.{{ column }} as varchar)) as {{ column }},
        {%- elif column in ('card_network', 'card_type') %}
        lower(cast(source.{{ column }} as varchar)) as {{ column }},
        {%- else %}
        cast(source.{{ column }} as varchar) as {{ column }},
        {%- endif %}
        {%- endfor %}
        {%- for column, data_type in typed_columns.items() %}
        {{ cast_strictly('source.' ~ column, data_type) }} as {{ column }},
        {%- endfor %}
        source._source_file,
        {%- for column in normalised_columns + (typed_columns | list) %}
        source.{{ column }} as raw_{{ column }},
        {%- endfor %}
        {%- for column in typed_columns %}
        source.{{ column }} is not null as has_raw_{{ column }},
        {%- endfor %}
        duplicated_ids.attempt_id is not null as has_duplicated_id
    from source
    left join duplicated_ids on source.attempt_id = duplicated_ids.attempt_id
),

ranked as (
    {#- Among rows sharing an attempt_id the earliest (then by file and payload) is kept. The
        rank is only computed for repeated ids, so the common case needs no sort. #}
    select *, 1 as occurrence_of_id
    from typed
    where not has_duplicated_id
    union all
    select
        *,
        row_number() over (
            partition by attempt_id
            order by attempted_at, _source_file, payment_id, card_id, amount_minor, is_approved
        ) as occurrence_of_id
    from typed
    where has_duplicated_id
),

checked as (
    select
        *,
        {%- set checks = [] %}
        {%- for column in required_columns %}
            {%- if column in typed_columns %}
                {%- do checks.append(('unparseable ' ~ column, 'has_raw_' ~ column ~ ' and ' ~ column ~ ' is null')) %}
            {%- endif %}
            {%- do checks.append(('null ' ~ column, column ~ ' is null')) %}
        {%- endfor %}
        {%- for column in typed_columns if column not in required_columns %}
            {%- do checks.append(('unparseable ' ~ column, 'has_raw_' ~ column ~ ' and ' ~ column ~ ' is null')) %}
        {%- endfor %}
        {%- do checks.extend([
            ('negative amount_minor', 'amount_minor < 0'),
            ('unknown currency_code', 'currency_code not in (select currency_code from currencies)'),
            ('future attempted_at', 'attempted_at > ' ~ load_started_at()),
            ('unknown transaction_type', "transaction_type not in ('one_off', 'recurring', 'subscription_renewal')"),
            ('unknown decline_code', "decline_code not in ('insufficient_funds', 'do_not_honor', 'hard_decline', 'authentication_required', 'technical')"),
            ('approved with a decline_code', 'is_approved and decline_code is not null'),
            ('declined without a decline_code', 'not is_approved and decline_code is null'),
            ('decision_propensity outside (0, 1]', 'decision_propensity <= 0 or decision_propensity > 1'),
            ('duplicate attempt_id', 'occurrence_of_id > 1'),
        ]) %}
        {{ quarantine_reason(checks) }} as quarantine_reason
    from ranked
),

final as (
    select
        attempt_id,
        payment_id,
        attempted_at,
        card_id,
        customer_id,
        merchant_id,
        merchant_category,
        amount_minor,
        currency_code,
        card_bin,
        issuer_id,
        issuer_country,
        card_network,
        card_type,
        card_expires_on,
        transaction_type,
        product_family,
        gateway,
        optimization,
        decision_propensity,
        is_approved,
        decline_code,
        quarantine_reason,
        {#- Built only for quarantined rows: the raw values, before any cast or normalisation. #}
        case when quarantine_reason is not null then to_json(struct_pack(
            {%- for column in text_columns + (typed_columns | list) %}
            {{ column }} := {{ 'raw_' if column in normalised_columns or column in typed_columns }}{{ column }}{{ "," if not loop.last }}
            {%- endfor %}
        )) end as raw_row_json,
        _source_file as source_file
    from checked
)

select * from final
