"""Customer features and product affinity against naive computations on a simulated world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def raw(workspace, table: str) -> pd.DataFrame:
    return pd.read_parquet(workspace.raw_dir / table)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def tables(simulated_workspace):
    import duckdb

    with duckdb.connect(str(simulated_workspace.warehouse), read_only=True) as connection:
        purchases = connection.execute("select customer_id, attempted_at, usd_amount_minor from marts.fct_authorizations where is_approved").df()
        interactions = connection.execute("select * from staging.stg_raw__interactions").df()
        holdings = connection.execute("select * from staging.stg_raw__product_holdings").df()
        similarity = connection.execute("select * from marts.product_similarity").df()
    # DuckDB writes Parquet in parallel: sort so that seeded samples pick the same rows every run.
    features = _sorted(pd.read_parquet(simulated_workspace.features_dir / "customer_features.parquet"), ["customer_id", "event_timestamp"])
    affinity = _sorted(pd.read_parquet(simulated_workspace.features_dir / "customer_product_affinity.parquet"), ["customer_id", "product", "event_timestamp"])
    return purchases, interactions, holdings, similarity, features, affinity


def held_at(holdings: pd.DataFrame, customer: str, at: pd.Timestamp) -> set[str]:
    rows = holdings[(holdings.customer_id == customer) & (holdings.opened_at < at) & (holdings.closed_at.isna() | (holdings.closed_at >= at))]
    return set(rows["product"])


def test_customer_features_match_naive_computation(tables):
    purchases, interactions, holdings, _, features, _ = tables
    offer_points = features[features.event_timestamp != features.event_timestamp.max()]
    assert len(offer_points) > 50
    sample = pd.concat([offer_points.sample(60, random_state=1), features.sample(60, random_state=2)])
    for row in sample.itertuples(index=False):
        at = pd.Timestamp(row.event_timestamp)
        bought = purchases[(purchases.customer_id == row.customer_id) & (purchases.attempted_at < at)]
        assert row.purchases_lifetime == len(bought)
        assert row.purchases_90d == int((bought.attempted_at >= at - pd.Timedelta(days=90)).sum())
        assert row.spend_usd_minor_lifetime == bought.usd_amount_minor.sum()
        days = bought.attempted_at.dt.normalize()
        assert row.repeat_purchase_days == max(days.nunique() - 1, 0)
        if len(bought):
            assert row.days_since_last_purchase == pytest.approx((at - bought.attempted_at.max()).total_seconds() / 86400)
        seen = interactions[(interactions.customer_id == row.customer_id) & (interactions.occurred_at < at)]
        assert row.interactions_30d == int((seen.occurred_at >= at - pd.Timedelta(days=30)).sum())
        assert row.complaints_90d == int(((seen.kind == "complaint") & (seen.occurred_at >= at - pd.Timedelta(days=90))).sum())
        held = held_at(holdings, row.customer_id, at)
        assert row.products_held == len(held)
        assert row.holds_savings == ("savings" in held)


def test_affinity_is_mean_cosine_to_products_held(tables):
    _, _, holdings, similarity, _, affinity = tables
    sample = affinity[affinity.affinity_score > 0].sample(80, random_state=3)
    for row in sample.itertuples(index=False):
        at = pd.Timestamp(row.event_timestamp)
        held = held_at(holdings, row.customer_id, at)
        snapshot = similarity[(similarity.snapshot_at == at.to_period("M").to_timestamp()) & (similarity.product_b == row.product)]
        expected = snapshot[snapshot.product_a.isin(held)].cosine_similarity.sum() / len(held)
        assert row.affinity_score == pytest.approx(expected)
        assert row.is_held == (row.product in held)


def test_similarity_is_cosine_over_holdings_before_the_snapshot(tables):
    _, _, holdings, similarity, _, _ = tables
    row = similarity.sort_values("co_holders").iloc[-1]
    at = pd.Timestamp(row.snapshot_at)
    open_at = holdings[(holdings.opened_at < at) & (holdings.closed_at.isna() | (holdings.closed_at >= at))]
    holders = open_at.groupby("product").customer_id.nunique()
    both = set(open_at[open_at["product"] == row.product_a].customer_id) & set(open_at[open_at["product"] == row.product_b].customer_id)
    assert row.co_holders == len(both)
    assert row.cosine_similarity == pytest.approx(len(both) / np.sqrt(holders[row.product_a] * holders[row.product_b]))


def test_cross_sell_training_set_has_every_clean_offer(simulated_workspace):
    import duckdb

    with duckdb.connect(str(simulated_workspace.warehouse), read_only=True) as connection:
        clean, training, with_affinity = connection.execute(
            "select (select count(*) from staging.stg_raw__offers), count(*), count(product_affinity_score) from training.training_cross_sell"
        ).fetchone()
    assert clean == training == with_affinity > 50
