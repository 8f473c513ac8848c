{{ config(materialized='table') }}

{#- Every raw interaction, typed, with the first contract violation as quarantine_reason.
    Identical interactions are legitimate (two logins in the same microsecond are not errors),
    so there is no duplicate check. -#}

{{ validate_raw_rows(
    'interactions',
    column_types={'customer_id': 'varchar', 'occurred_at': 'timestamp', 'channel': 'varchar', 'kind': 'varchar'},
    required_columns=['customer_id', 'occurred_at', 'channel', 'kind'],
    checks=[
        ('future occurred_at', 'occurred_at > ' ~ load_started_at()),
        ('unknown customer_id', known_customer_check()),
    ],
    normalise={'channel': 'lower', 'kind': 'lower'},
) }}
