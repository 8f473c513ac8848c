"""What each feature view serves, as plain data: name, dbt model, join keys, TTL; and services.

`feature_views.py` and `feature_services.py` build the Feast objects from these specs, and
payloom's own point-in-time path (`scoring/point_in_time.py`) reads them without importing Feast
(`import feast` takes ~12 s), so the two paths cannot disagree on keys or TTLs.

>>> VIEW_SPECS["card_activity"].join_keys, VIEW_SPECS["card_activity"].ttl.days
(('card_id',), 3)
>>> SERVICE_VIEWS["cross_sell_v1"]
('customer_profile', 'customer_product_affinity')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["ViewSpec", "VIEW_SPECS", "SERVICE_VIEWS"]


@dataclass(frozen=True)
class ViewSpec:
    """A feature view over one dbt feature model (its Parquet file), keyed by `join_keys`."""

    name: str
    dbt_model: str
    join_keys: tuple[str, ...]
    ttl: timedelta


VIEW_SPECS: dict[str, ViewSpec] = {
    spec.name: spec
    for spec in (
        ViewSpec("card_activity", "card_features", ("card_id",), timedelta(days=3)),
        ViewSpec("bin_merchant_category_activity", "bin_merchant_category_features", ("card_bin", "merchant_category"), timedelta(days=2)),
        ViewSpec("issuer_merchant_category_activity", "issuer_merchant_category_features", ("issuer_id", "merchant_category"), timedelta(days=2)),
        ViewSpec("gateway_segment_activity", "gateway_segment_features",
                 ("gateway", "card_network", "issuer_country", "transaction_type"), timedelta(days=2)),
        ViewSpec("customer_profile", "customer_features", ("customer_id",), timedelta(days=7)),
        ViewSpec("customer_product_affinity", "customer_product_affinity", ("customer_id", "product"), timedelta(days=7)),
        ViewSpec("holding_pattern_neighbours", "holding_pattern_affinity", ("holding_pattern", "product"), timedelta(days=31)),
    )
}

#: Feature services (model contracts) -> their views, in order. Add `<use_case>_v<N+1>`, never edit one.
SERVICE_VIEWS: dict[str, tuple[str, ...]] = {
    "issuer_decline_v1": ("card_activity", "bin_merchant_category_activity", "issuer_merchant_category_activity", "gateway_segment_activity"),
    "cross_sell_v1": ("customer_profile", "customer_product_affinity"),
    "cross_sell_v2": ("customer_profile", "customer_product_affinity", "holding_pattern_neighbours"),
}
