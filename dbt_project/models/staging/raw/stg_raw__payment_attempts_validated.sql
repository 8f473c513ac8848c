{#- Every raw attempt, typed, with the first contract violation as quarantine_reason (NULL when
    clean). stg_raw__payment_attempts keeps the clean rows; quarantined_rows the others.

    A view, unlike the other *_validated models: attempts are the one large table, and writing
    them all here before fct_authorizations writes them again costs more (a 10 M-row write) than
    validating twice (~8 s at 10 M): once for quarantined_rows, then for fct_authorizations. -#}

{{ validate_raw_rows(
    'payment_attempts',
    column_types={
        'attempt_id': 'varchar', 'payment_id': 'varchar', 'attempted_at': 'timestamp',
        'card_id': 'varchar', 'customer_id': 'varchar', 'merchant_id': 'varchar',
        'merchant_category': 'varchar', 'amount_minor': 'bigint', 'currency_code': 'varchar',
        'card_bin': 'varchar', 'issuer_id': 'varchar', 'issuer_country': 'varchar',
        'card_network': 'varchar', 'card_type': 'varchar', 'card_expires_on': 'date',
        'transaction_type': 'varchar', 'product_family': 'varchar', 'gateway': 'varchar',
        'optimization': 'varchar', 'decision_propensity': 'double', 'is_approved': 'boolean',
        'decline_code': 'varchar'},
    required_columns=[
        'attempt_id', 'payment_id', 'attempted_at', 'card_id', 'customer_id', 'merchant_id',
        'merchant_category', 'amount_minor', 'currency_code', 'card_bin', 'issuer_id',
        'issuer_country', 'card_network', 'card_type', 'transaction_type', 'gateway',
        'optimization', 'is_approved'],
    checks=[
        ('negative amount_minor', 'amount_minor < 0'),
        ('unknown currency_code', "currency_code not in (select currency_code from " ~ ref('currencies') ~ ")"),
        ('future attempted_at', 'attempted_at > ' ~ load_started_at()),
        ('unknown transaction_type', "transaction_type not in ('one_off', 'recurring', 'subscription_renewal')"),
        ('unknown decline_code', "decline_code not in ('insufficient_funds', 'do_not_honor', 'hard_decline', 'authentication_required', 'technical')"),
        ('approved with a decline_code', 'is_approved and decline_code is not null'),
        ('declined without a decline_code', 'not is_approved and decline_code is null'),
        ('decision_propensity outside (0, 1]', 'decision_propensity <= 0 or decision_propensity > 1'),
    ],
    unique_key=['attempt_id'],
    order_by=['attempted_at', 'payment_id', 'card_id', 'amount_minor', 'is_approved'],
    normalise={'currency_code': 'upper', 'issuer_country': 'upper', 'card_network': 'lower', 'card_type': 'lower'},
) }}
