{#- One row per raw row that broke the contract, from every raw table: the table, the row's
    key, the reason, and the raw row as JSON. Nothing is dropped: raw = clean + quarantined. -#}

with

payment_attempts_validated as (
    select * from {{ ref('stg_raw__payment_attempts_validated') }}
),

payment_attempts_quarantined as (
    select
        'payment_attempts' as table_name,
        attempt_id as record_id,
        quarantine_reason,
        raw_row_json,
        source_file
    from payment_attempts_validated
    where quarantine_reason is not null
),

final as (
    select * from payment_attempts_quarantined
)

select * from final
