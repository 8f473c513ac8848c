{{ config(materialized='table') }}

{#- Every raw offer, typed, with the first contract violation as quarantine_reason. -#}

{{ validate_raw_rows(
    'offers',
    column_types={
        'offer_id': 'varchar', 'customer_id': 'varchar', 'product': 'varchar', 'offered_at': 'timestamp',
        'contact_cost_minor': 'bigint', 'is_accepted': 'boolean', 'revenue_minor': 'bigint',
        'currency_code': 'varchar'},
    required_columns=['offer_id', 'customer_id', 'product', 'offered_at', 'contact_cost_minor', 'is_accepted', 'revenue_minor', 'currency_code'],
    checks=[
        ('negative revenue_minor', 'revenue_minor < 0'),
        ('negative contact_cost_minor', 'contact_cost_minor < 0'),
        ('revenue on a declined offer', 'not is_accepted and revenue_minor > 0'),
        ('unknown currency_code', "currency_code not in (select currency_code from " ~ ref('currencies') ~ ")"),
        ('unknown product', "product not in (select product from " ~ ref('products') ~ ")"),
        ('future offered_at', 'offered_at > ' ~ load_started_at()),
        ('unknown customer_id', known_customer_check()),
    ],
    unique_key=['offer_id'],
    order_by=['offered_at'],
    normalise={'currency_code': 'upper', 'product': 'lower'},
) }}
