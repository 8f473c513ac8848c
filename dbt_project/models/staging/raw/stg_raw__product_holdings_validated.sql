{{ config(materialized='table') }}

{#- Every raw holding, typed, with the first contract violation as quarantine_reason. A holding
    of a customer missing from the customers table is quarantined only when a customers table
    was provided at all (payments-only users have none). -#}

{{ validate_raw_rows(
    'product_holdings',
    column_types={'customer_id': 'varchar', 'product': 'varchar', 'opened_at': 'timestamp', 'closed_at': 'timestamp'},
    required_columns=['customer_id', 'product', 'opened_at'],
    checks=[
        ('unknown product', "product not in (select product from " ~ ref('products') ~ ")"),
        ('closed_at before opened_at', 'closed_at < opened_at'),
        ('future opened_at', 'opened_at > ' ~ load_started_at()),
        ('unknown customer_id', known_customer_check()),
    ],
    unique_key=['customer_id', 'product', 'opened_at'],
    normalise={'product': 'lower'},
) }}
