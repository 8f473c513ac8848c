{{ config(materialized='table') }}

{#- Every raw customer, typed, with the first contract violation as quarantine_reason. -#}

{{ validate_raw_rows(
    'customers',
    column_types={
        'customer_id': 'varchar', 'created_at': 'timestamp', 'birth_date': 'date',
        'annual_income_minor': 'bigint', 'currency_code': 'varchar', 'occupation': 'varchar',
        'credit_score': 'integer', 'country': 'varchar', 'segment': 'varchar'},
    required_columns=['customer_id', 'created_at', 'segment'],
    checks=[
        ('negative annual_income_minor', 'annual_income_minor < 0'),
        ('unknown currency_code', "currency_code not in (select currency_code from " ~ ref('currencies') ~ ")"),
        ('credit_score outside 300-900', 'credit_score not between 300 and 900'),
        ('unknown segment', "segment not in ('consumer', 'small_business', 'enterprise')"),
        ('future created_at', 'created_at > ' ~ load_started_at()),
        ('future birth_date', 'birth_date > cast(' ~ load_started_at() ~ ' as date)'),
    ],
    unique_key=['customer_id'],
    order_by=['created_at'],
    normalise={'currency_code': 'upper', 'country': 'upper', 'segment': 'lower'},
) }}
