"""Feature services: one versioned contract per model. Add `<use_case>_v<N+1>`, never edit a live one.

Several views share feature names (attempts_30d, ...), so read services with full feature names
(`<view>__<feature>`), as scoring.feature_store.online_features does.
"""

from feast import FeatureService

from entities import CUSTOMER_OWNER, PAYMENTS_OWNER
from feature_views import (
    bin_merchant_category_fv,
    card_activity_fv,
    customer_product_affinity_fv,
    customer_profile_fv,
    gateway_segment_fv,
    holding_pattern_neighbours_fv,
    issuer_merchant_category_fv,
)

issuer_decline_v1_service = FeatureService(
    name="issuer_decline_v1",
    features=[card_activity_fv, bin_merchant_category_fv, issuer_merchant_category_fv, gateway_segment_fv],
    description=(
        "Features of the issuer-decline and decline-type models: the card's activity, the BIN and "
        "the issuer at the merchant category, and the gateway segment. Entity rows carry card_id, "
        "card_bin, merchant_category, issuer_id, gateway, card_network, issuer_country and "
        "transaction_type; request-time features (amount, calendar) come with the attempt."
    ),
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "true", "model": "issuer_decline", "version": "1"},
)

cross_sell_v1_service = FeatureService(
    name="cross_sell_v1",
    features=[customer_profile_fv, customer_product_affinity_fv],
    description=(
        "Features of the cross-sell model: the customer's profile and the candidate product's "
        "affinity to the customer's holdings. Entity rows carry customer_id and product."
    ),
    owner=CUSTOMER_OWNER,
    tags={"domain": "customers", "pii": "true", "model": "cross_sell", "version": "1"},
)

cross_sell_v2_service = FeatureService(
    name="cross_sell_v2",
    features=[customer_profile_fv, customer_product_affinity_fv, holding_pattern_neighbours_fv],
    description=(
        "Features of the cross-sell models as they are trained (int_cross_sell_candidates): v1 plus "
        "the nearest-customer affinity of the candidate product to the customer's holding pattern. "
        "Entity rows carry customer_id, product and holding_pattern (the held products of the "
        "customer_profile row, in dbt var products order, joined by '+'; 'none' for no holdings)."
    ),
    owner=CUSTOMER_OWNER,
    tags={"domain": "customers", "pii": "true", "model": "cross_sell", "version": "2"},
)
