"""The next-best offer served online (feature service cross_sell_v2 + compiled models) equals the
SQL path (scores.scores_cross_sell / scores.next_best_offers) for every scored customer, and a
payment decision naming its customer carries that offer."""

from __future__ import annotations

import shutil
from datetime import datetime

import duckdb
import pytest

from scoring.decline_decision import DeclineDecider
from scoring.decline_training_job import train_decline_job
from scoring.feature_store import apply_feature_store, materialize_feature_store, open_feature_store
from scoring.next_best_offer import OFFER_SERVICE, OnlineOfferDecider, holding_pattern_name
from scoring.workspace import Workspace

CUTOFF = datetime(2025, 3, 2)


@pytest.fixture(scope="module")
def online_workspace(cross_sell, tmp_path_factory) -> Workspace:
    """A copy of the trained cross-sell workspace with small decline models, Feast applied and
    materialised up to the feature cutoff (the scoring instant of scores_cross_sell)."""
    root = tmp_path_factory.mktemp("online_offer") / "workspace"
    shutil.copytree(cross_sell.workspace.root, root)
    workspace = Workspace.at(root)
    train_decline_job(workspace, candidates=1, max_trees=30, echo=None)
    apply_feature_store(workspace)
    materialize_feature_store(workspace, datetime(2024, 12, 1), CUTOFF)
    return workspace


@pytest.fixture(scope="module")
def offers(online_workspace) -> OnlineOfferDecider:
    return OnlineOfferDecider(online_workspace, store=open_feature_store(online_workspace))


@pytest.fixture(scope="module")
def sql_offers(online_workspace) -> dict[str, dict]:
    with duckdb.connect(str(online_workspace.warehouse), read_only=True) as connection:
        best = connection.execute("select * from scores.next_best_offers").df()
        every = connection.execute("select * from scores.scores_cross_sell").df()
    assert len(best) > 100, "the fixture must score many customers"
    candidates = {customer: frame.set_index("product") for customer, frame in every.groupby("customer_id")}
    return {row["customer_id"]: {**row, "scores": candidates[row["customer_id"]]} for row in best.to_dict("records")}


def test_online_offer_equals_the_sql_scores_for_every_customer(offers, sql_offers):
    customers = sorted(sql_offers)
    answers = offers.offer_many(customers, [CUTOFF] * len(customers))
    neighbour_scores_used = 0
    for customer, answer in zip(customers, answers):
        expected = sql_offers[customer]
        assert answer["found"] is True and answer["customer_id"] == customer
        assert answer["product"] == expected["product"], customer
        assert answer["is_profitable"] == bool(expected["is_profitable"]), customer
        assert len(answer["candidates"]) == expected["candidate_products"], customer
        for candidate in answer["candidates"]:
            row = expected["scores"].loc[candidate["product"]]
            assert candidate["p_accept"] == pytest.approx(row["p_accept"], abs=1e-6), (customer, candidate["product"])
            assert candidate["payoff_score"] == pytest.approx(row["payoff_score"], abs=1e-6), (customer, candidate["product"])
            assert candidate["contact_cost_usd_minor"] == pytest.approx(row["contact_cost_usd_minor"]), (customer, candidate["product"])
            assert candidate["expected_payoff_usd_minor"] == pytest.approx(
                row["expected_payoff_usd_minor"], rel=1e-5, abs=1e-3), (customer, candidate["product"])
            neighbour_scores_used += row["neighbour_affinity_score"] > 0
        assert answer["model_versions"] == {
            "cross_sell_propensity": expected["scores"]["propensity_model_version"].iloc[0],
            "cross_sell_payoff": expected["payoff_model_version"],
        }
        freshness = answer["feature_freshness"]
        assert freshness["customer_profile"]["found"] and freshness["customer_profile"]["age_seconds"] == 0
        assert not any(entry["stale"] for entry in freshness.values()), (customer, freshness)
    assert neighbour_scores_used > 0, "the nearest-customer affinity must reach the online scores"


def test_holding_pattern_keys_match_the_dbt_feature_table(online_workspace, offers):
    """The pattern the service derives from the profile names rows that dbt wrote."""
    with duckdb.connect(str(online_workspace.warehouse), read_only=True) as connection:
        profiles = connection.execute(
            "select * from main.customer_features where event_timestamp = ? order by customer_id limit 50", [CUTOFF]).df()
        keys = {row[0] for row in connection.execute(
            f"select distinct holding_pattern from read_parquet('{online_workspace.features_dir / 'holding_pattern_affinity.parquet'}')"
        ).fetchall()}
    derived = {holding_pattern_name(row) for row in profiles.to_dict("records")}
    assert derived <= keys and "none" in keys
    assert any("+" in key for key in keys)


def test_unknown_customer_gets_no_offer_and_says_why(offers):
    answer = offers.offer("nobody-at-all", CUTOFF)
    assert answer["found"] is False and answer["product"] is None and answer["candidates"] == []
    assert "no customer_profile row" in answer["reason"]
    assert answer["feature_freshness"]["customer_profile"]["found"] is False


def test_payment_decision_carries_the_customers_offer(online_workspace, offers, sql_offers):
    decider = DeclineDecider(online_workspace)
    with duckdb.connect(str(online_workspace.warehouse), read_only=True) as connection:
        payment = connection.execute(
            """
            select card_id, card_bin, merchant_category, issuer_id, gateway, card_network, issuer_country,
                   transaction_type, card_type, optimization, amount_minor, currency_code, customer_id,
                   strftime(card_expires_on, '%Y-%m-%d') as card_expires_on
            from marts.fct_authorizations as attempts
            where attempts.customer_id in (select customer_id from scores.next_best_offers)
            order by attempts.attempted_at desc
            limit 1
            """
        ).df().to_dict("records")[0]
    payment = {**payment, "amount_minor": int(payment["amount_minor"]), "attempted_at": CUTOFF.isoformat() + "Z"}
    with_customer = decider.decide(payment)
    offer = with_customer["next_best_offer"]
    assert offer == offers.offer(payment["customer_id"], CUTOFF)
    assert offer["product"] == sql_offers[payment["customer_id"]]["product"]
    without = decider.decide({key: value for key, value in payment.items() if key != "customer_id"})
    assert without["next_best_offer"] is None
    assert without["decline_probability"] == with_customer["decline_probability"]
    [batch_offer] = [decision["next_best_offer"] for decision in decider.decide_many([payment])]
    assert batch_offer == offer
    stranger = decider.decide({**payment, "customer_id": "nobody-at-all"})["next_best_offer"]
    assert stranger["found"] is False and stranger["product"] is None


def test_offer_service_must_be_applied(online_workspace):
    """A registry without feature service cross_sell_v2 (applied before it existed) is refused with what to do."""
    from scoring.errors import FeatureStoreError

    store = open_feature_store(online_workspace)
    service = store.get_feature_service(OFFER_SERVICE)
    store.registry.delete_feature_service(OFFER_SERVICE, store.project, commit=True)
    try:
        with pytest.raises(FeatureStoreError, match=rf"{OFFER_SERVICE}.*apply and materialise the feature store again"):
            OnlineOfferDecider(online_workspace, store=open_feature_store(online_workspace))
    finally:
        store.registry.apply_feature_service(service, store.project, commit=True)
    assert OnlineOfferDecider(online_workspace, store=open_feature_store(online_workspace)).reader.service_name == OFFER_SERVICE
