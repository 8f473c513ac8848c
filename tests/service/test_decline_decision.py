"""DeclineDecider in process: parity with the offline features and SQL scores, unknown and
stale entities, and misuse. Real Feast (SQLite), real DuckDB, real compiled models."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from scoring.payment_request import DecisionInputError, FxRates, PaymentRequest, request_time_features
from scoring.decline_models import DECLINE_FEATURES, DECLINE_TYPES
from scoring.feature_store import online_features
from scoring.workspace import DBT_PROJECT_DIR

from decision_support import offline_attempts, payment_of

TOLERANCE = 1e-6


def assert_same_features(used: dict, offline: dict) -> None:
    """Every model input equal to the offline row's (NULL = missing = None)."""
    for name in DECLINE_FEATURES:
        expected, actual = offline[name], used[name]
        if expected is None or (isinstance(expected, float) and math.isnan(expected)):
            assert actual is None, f"{name}: offline NULL, online {actual}"
        else:
            assert actual is not None and abs(actual - float(expected)) <= TOLERANCE, f"{name}: offline {expected}, online {actual}"


def test_models_take_decline_features(decider):
    assert tuple(decider.feature_names) == DECLINE_FEATURES
    assert decider.type_classes == list(DECLINE_TYPES)
    assert decider.model_versions == {"issuer_decline": "v0001", "decline_type": "v0001"}


def test_parity_with_offline_features_and_sql_scores(served):
    assert len(served.cases) >= 2
    for case in served.cases:
        decision, offline = case.decision, case.offline
        assert_same_features(decision["features_used"], offline)
        # The comparison covers every source: card history, both merchant-category segments, the gateway segment.
        for name in ("attempts_before", "bin_merchant_category_attempts_30d", "issuer_merchant_category_attempts_30d",
                     "gateway_segment_approval_rate_7d", "usd_amount_minor"):
            assert decision["features_used"][name] is not None, name
        assert abs(decision["decline_probability"] - offline["decline_probability"]) <= TOLERANCE
        for name in DECLINE_TYPES:
            assert abs(decision["decline_type"][name] - offline[f"p_{name}"]) <= TOLERANCE
        assert decision["recommended_action"] == offline["recommended_action"]
        assert decision["stale_features"] == []
        freshness = decision["feature_freshness"]
        assert all(view["found"] for view in freshness.values())
        # The card's row is the one dbt wrote at the attempt's own instant (Feast keeps whole seconds).
        assert 0 <= freshness["card_activity"]["age_seconds"] < 1
        assert decision["missing_features"] == [name for name in DECLINE_FEATURES if offline[name] is None]


def test_online_values_match_feature_store_online_features(served, decider):
    """The decider's one Feast call reads what scoring.feature_store.online_features reads."""
    case = served.cases[-1]
    request = decider.parse(case.payment)
    ours = decider.fetch_online(request).values
    theirs = online_features(served.workspace, "issuer_decline_v1", [request.entity_row()], store=decider.store)[0]
    assert ours == {key: theirs[key] for key in ours}


def test_request_time_features_match_dbt_on_many_attempts(served):
    """Amount in USD (every currency, FX periods, rounding), calendar parts and encodings, as dbt."""
    fx = FxRates.from_seeds(DBT_PROJECT_DIR / "seeds")
    rows = offline_attempts(served.workspace, "true")
    assert len({row["currency_code"] for row in rows}) > 3
    for row in rows[::7]:
        computed = request_time_features(PaymentRequest.parse(payment_of(row)), fx)
        for name, value in computed.items():
            assert value == row[name], f"{row['attempt_id']} {name}: dbt {row[name]}, decider {value}"


def test_unknown_card_gets_missing_features_and_a_flag(served, decider):
    payment = {**served.cases[-1].payment, "card_id": "card_never_seen"}
    decision = decider.decide(payment)
    card = decision["feature_freshness"]["card_activity"]
    assert card["found"] is False and card["age_seconds"] is None
    assert decision["feature_freshness"]["gateway_segment_activity"]["found"] is True
    for name in ("attempts_1d", "attempts_before", "decline_ratio_90d", "days_since_last_approval"):
        assert name in decision["missing_features"] and decision["features_used"][name] is None
    assert "usd_amount_minor" not in decision["missing_features"]
    assert 0.0 <= decision["decline_probability"] <= 1.0
    assert math.isclose(sum(decision["decline_type"].values()), 1.0, abs_tol=1e-5)


def test_unknown_segment_values_are_missing_not_errors(served, decider):
    payment = {**served.cases[-1].payment, "gateway": "gw_unknown", "card_bin": "000000"}
    decision = decider.decide(payment)
    assert decision["feature_freshness"]["gateway_segment_activity"]["found"] is False
    assert decision["feature_freshness"]["bin_merchant_category_activity"]["found"] is False
    assert {"gateway_segment_approval_rate_1h", "bin_merchant_category_approval_rate_30d"} <= set(decision["missing_features"])


def test_rows_older_than_the_ttl_are_used_and_flagged_stale(served, decider):
    case = served.cases[-1]
    later = case.attempted_at + timedelta(days=4)
    decision = decider.decide({**case.payment, "attempted_at": later.isoformat() + "Z"})
    freshness = decision["feature_freshness"]
    assert freshness["card_activity"]["stale"] is True  # TTL 3 days
    assert freshness["card_activity"]["age_seconds"] > freshness["card_activity"]["ttl_seconds"]
    assert "attempts_90d" in decision["stale_features"] and "gateway_segment_approval_rate_7d" in decision["stale_features"]
    assert "usd_amount_minor" not in decision["stale_features"]
    # Used anyway (the offline ASOF joins have no TTL either): same card history as at the attempt.
    assert decision["features_used"]["attempts_90d"] == case.decision["features_used"]["attempts_90d"]

    two_days = decider.decide({**case.payment, "attempted_at": (case.attempted_at + timedelta(hours=47)).isoformat()})
    assert two_days["feature_freshness"]["card_activity"]["stale"] is False


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"card_id": None}, "card_id", "non-empty string"),
        ({"card_bin": 470817}, "card_bin", "non-empty string"),
        ({"amount_minor": "1999"}, "amount_minor", "non-negative integer"),
        ({"amount_minor": 19.99}, "amount_minor", "non-negative integer"),
        ({"amount_minor": -5}, "amount_minor", "non-negative integer"),
        ({"amount_minor": True}, "amount_minor", "non-negative integer"),
        ({"currency_code": "XYZ"}, "currency_code", "known currency"),
        ({"attempted_at": "yesterday"}, "attempted_at", "ISO 8601"),
        ({"attempted_at": 1740000000}, "attempted_at", "ISO 8601"),
        ({"card_expires_on": "30/11/2028"}, "card_expires_on", "ISO date"),
        ({"transaction_type": "moto"}, "transaction_type", "one_off"),
        ({"other_approved_cards": "two"}, "other_approved_cards", "non-negative integer"),
    ],
)
def test_bad_input_names_the_field(served, decider, change, field, words):
    with pytest.raises(DecisionInputError) as raised:
        decider.decide({**served.cases[-1].payment, **change})
    assert raised.value.field == field and words in raised.value.reason
    assert f"'{field}'" in str(raised.value)


def test_missing_field_is_named(served, decider):
    payment = dict(served.cases[-1].payment)
    del payment["currency_code"]
    with pytest.raises(DecisionInputError, match="'currency_code': missing"):
        decider.decide(payment)
    with pytest.raises(DecisionInputError, match="JSON object"):
        decider.decide(["not", "a", "payment"])


def test_optional_and_normalised_fields(served, decider):
    case = served.cases[-1]
    payment = {key: value for key, value in case.payment.items() if key != "other_approved_cards"}
    payment.update(currency_code=payment["currency_code"].lower(), card_network=payment["card_network"].upper(),
                   attempted_at=case.attempted_at.isoformat(), card_expires_on=None)
    decision = decider.decide(payment)
    assert decision["features_used"]["usd_amount_minor"] == case.decision["features_used"]["usd_amount_minor"]
    assert decision["features_used"]["is_visa"] == case.decision["features_used"]["is_visa"]
    assert decision["features_used"]["days_to_card_expiry"] is None
    assert "days_to_card_expiry" in decision["missing_features"]


def test_gateway_ranking_is_the_decision_under_each_gateway(served, decider):
    payment = served.cases[-1].payment
    decision = decider.decide(payment)
    ranking = decision["gateway_ranking"]
    assert {entry["gateway"] for entry in ranking} == set(decider.gateways) and len(decider.gateways) >= 3
    probabilities = [entry["approval_probability"] for entry in ranking]
    assert probabilities == sorted(probabilities, reverse=True)
    for entry in ranking:
        # Each gateway's P(approve) is what deciding the payment on that gateway says.
        on_gateway = decider.decide({**payment, "gateway": entry["gateway"]})
        assert entry["approval_probability"] == pytest.approx(1.0 - on_gateway["decline_probability"], abs=1e-7)
        assert entry["segment_found"] is on_gateway["feature_freshness"]["gateway_segment_activity"]["found"]
    assert len({round(p, 6) for p in probabilities}) > 1  # the gateways' segment features matter


def test_candidate_gateways_limit_the_ranking(served, decider):
    payment = served.cases[-1].payment
    chosen = [gateway for gateway in decider.gateways if gateway != payment["gateway"]][:1] + ["gw_new"]
    ranking = decider.decide({**payment, "candidate_gateways": chosen})["gateway_ranking"]
    assert sorted(entry["gateway"] for entry in ranking) == sorted(chosen)
    new = next(entry for entry in ranking if entry["gateway"] == "gw_new")
    assert new["segment_found"] is False
    for bad in ([], ["gw_alpha", "gw_alpha"], ["gw_alpha", 7], "gw_alpha"):
        with pytest.raises(DecisionInputError, match="candidate_gateways.*list of at most 64 distinct gateway names"):
            decider.decide({**payment, "candidate_gateways": bad})


def test_decide_many_equals_decide_one_by_one(served, decider):
    payments = [case.payment for case in served.cases] + [{**served.cases[0].payment, "card_id": "card_never_seen"}]
    assert decider.decide_many(payments) == [decider.decide(payment) for payment in payments]
    assert decider.decide_many([]) == []
    with pytest.raises(DecisionInputError, match=r"'payments\[1\]\.amount_minor': expected a non-negative integer"):
        decider.decide_many([payments[0], {**payments[0], "amount_minor": "ten"}])
