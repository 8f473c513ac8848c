"""Feature views: one per dbt feature model, every field derived from the model's dbt contract.

A view serves all non-key columns of its model (`dbt_contract.feature_fields`), so a column added
to or retyped in the dbt contract changes the view at the next `feast apply`, never silently.

TTL is how old the newest row at or before a lookup instant may be and still be served (offline
point-in-time joins; older rows give missing values, which the models read as missing). Each
view's description says why its TTL is what it is. Online reads serve the latest materialised
row whatever its age.

A TTL is whole days or less than a day: Feast 0.67's DuckDB store adds it to timestamps as an
ibis interval, and ibis rejects a timedelta that mixes days with hours ("mixed units", e.g. 36 h).
"""

from feast import FeatureView

from data_sources import (
    bin_merchant_category_features_source,
    card_features_source,
    customer_features_source,
    customer_product_affinity_source,
    gateway_segment_features_source,
    holding_pattern_affinity_source,
    issuer_merchant_category_features_source,
)
from dbt_contract import feature_fields
from entities import (
    CUSTOMER_OWNER,
    PAYMENTS_OWNER,
    card,
    card_bin,
    card_network,
    customer,
    gateway,
    holding_pattern,
    issuer,
    issuer_country,
    merchant_category,
    product,
    transaction_type,
)
from view_specs import VIEW_SPECS

card_activity_fv = FeatureView(
    name="card_activity",
    entities=[card],
    ttl=VIEW_SPECS["card_activity"].ttl,
    schema=feature_fields("card_features", join_keys=["card_id"]),
    source=card_features_source,
    online=True,
    description=(
        "Attempts, declines and decline ratios of the card over 1/7/30/90 days, declines by code, "
        "amounts and merchants over 30 days, days since the last approval (dbt card_features). "
        "TTL 3 days: dbt writes a row at every attempt and one per card at each build's cutoff, "
        "so with daily builds the newest row is at most a day old; a row older than 3 days means "
        "two missed builds, and its 1-day and 7-day windows would describe another week."
    ),
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "true", "dbt_model": "card_features", "grain": "card x instant"},
)

bin_merchant_category_fv = FeatureView(
    name="bin_merchant_category_activity",
    entities=[card_bin, merchant_category],
    ttl=VIEW_SPECS["bin_merchant_category_activity"].ttl,
    schema=feature_fields("bin_merchant_category_features", join_keys=["card_bin", "merchant_category"]),
    source=bin_merchant_category_features_source,
    online=True,
    description=(
        "Approvals, declines by code and the (target-encoded) approval rate of the card BIN at the "
        "merchant category over 30 days (dbt bin_merchant_category_features). TTL 2 days: rows "
        "are on a daily grid, so the newest is at most a day old while the segment is active; 2 "
        "days tolerates one missed build. The grid ends 31 days after the segment's last attempt, "
        "when its 30-day windows are empty: then the features are missing, not stale."
    ),
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "false", "dbt_model": "bin_merchant_category_features", "grain": "bin x mcc x day"},
)

issuer_merchant_category_fv = FeatureView(
    name="issuer_merchant_category_activity",
    entities=[issuer, merchant_category],
    ttl=VIEW_SPECS["issuer_merchant_category_activity"].ttl,
    schema=feature_fields("issuer_merchant_category_features", join_keys=["issuer_id", "merchant_category"]),
    source=issuer_merchant_category_features_source,
    online=True,
    description=(
        "Approvals, declines by code and the (target-encoded) approval rate of the issuer at the "
        "merchant category over 30 days (dbt issuer_merchant_category_features). TTL 2 days, as "
        "the BIN view: a daily grid, one missed build tolerated."
    ),
    owner=PAYMENTS_OWNER,
    tags={
        "domain": "payments",
        "pii": "false",
        "dbt_model": "issuer_merchant_category_features",
        "grain": "issuer x mcc x day",
    },
)

gateway_segment_fv = FeatureView(
    name="gateway_segment_activity",
    entities=[gateway, card_network, issuer_country, transaction_type],
    ttl=VIEW_SPECS["gateway_segment_activity"].ttl,
    schema=feature_fields(
        "gateway_segment_features",
        join_keys=["gateway", "card_network", "issuer_country", "transaction_type"],
    ),
    source=gateway_segment_features_source,
    online=True,
    description=(
        "Attempts, approvals, declines by code and approval rate of the gateway x card network x "
        "issuer country x transaction type segment over 1 hour, 24 hours and 7 days (dbt "
        "gateway_segment_features). TTL 2 days: rows are on an hourly grid up to each build's "
        "cutoff, so with daily builds the newest row can be 24 hours old; a second day allows one "
        "late or missed build. Older rows mean a stopped pipeline or a segment idle for a week "
        "(its grid ended), and an outage signal that old would mislead routing and decline models."
    ),
    owner=PAYMENTS_OWNER,
    tags={
        "domain": "payments",
        "pii": "false",
        "dbt_model": "gateway_segment_features",
        "grain": "gateway x network x issuer country x transaction type x hour",
    },
)

customer_profile_fv = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=VIEW_SPECS["customer_profile"].ttl,
    schema=feature_fields("customer_features", join_keys=["customer_id"]),
    source=customer_features_source,
    online=True,
    description=(
        "Recency, frequency and spend, the lifetimes summary, interactions by channel, complaints, "
        "products held, tenure, age, income, credit score, segment and churn / lifetime-value "
        "proxies of the customer (dbt customer_features). TTL 7 days: dbt writes a row at every "
        "offer and one per customer at each build's cutoff; these features move over weeks (30 "
        "and 90-day windows, holdings), so a row up to a week old still describes the customer."
    ),
    owner=CUSTOMER_OWNER,
    tags={"domain": "customers", "pii": "true", "dbt_model": "customer_features", "grain": "customer x instant"},
)

customer_product_affinity_fv = FeatureView(
    name="customer_product_affinity",
    entities=[customer, product],
    ttl=VIEW_SPECS["customer_product_affinity"].ttl,
    schema=feature_fields("customer_product_affinity", join_keys=["customer_id", "product"]),
    source=customer_product_affinity_source,
    online=True,
    description=(
        "Whether the customer holds the product and the item-item collaborative-filtering affinity "
        "of the product to the customer's holdings (dbt customer_product_affinity). TTL 7 days, "
        "as customer_profile: rows at the same instants, and holdings change slowly."
    ),
    owner=CUSTOMER_OWNER,
    tags={
        "domain": "customers",
        "pii": "true",
        "dbt_model": "customer_product_affinity",
        "grain": "customer x instant x product",
    },
)

holding_pattern_neighbours_fv = FeatureView(
    name="holding_pattern_neighbours",
    entities=[holding_pattern, product],
    ttl=VIEW_SPECS["holding_pattern_neighbours"].ttl,
    schema=feature_fields("holding_pattern_affinity", join_keys=["holding_pattern", "product"]),
    source=holding_pattern_affinity_source,
    online=True,
    description=(
        "Nearest-customer (user-based collaborative filtering) affinity of a product to a holding "
        "pattern: the similarity-weighted share of the most similar customers that hold it (dbt "
        "holding_pattern_affinity). TTL 31 days: one snapshot per month, stamped at the month's "
        "start and used for the whole month, so a current row is under 31 days old."
    ),
    owner=CUSTOMER_OWNER,
    tags={
        "domain": "customers",
        "pii": "false",
        "dbt_model": "holding_pattern_affinity",
        "grain": "holding pattern x product x month",
    },
)
