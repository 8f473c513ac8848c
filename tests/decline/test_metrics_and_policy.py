"""PR metrics against brute-force definitions; policy thresholds and the SQL policy macro."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from scoring.decline_models import DECLINE_TYPES
from scoring.decline_policy import DeclineCosts, best_threshold, choose_decline_policy, policy_inputs
from scoring.precision_recall import average_precision, precision_at_recall, roc_auc
from udfs.decline_actions import register_decline_action
from udfs.errors import ModelArtifactError


def _brute_force(labels, scores):
    """Precision and recall at every distinct threshold, ROC-AUC by counting pairs."""
    points = []
    for threshold in sorted(set(scores), reverse=True):
        flagged = scores >= threshold
        tp = np.sum(flagged & labels)
        points.append((tp / flagged.sum(), tp / labels.sum()))
    ap, previous_recall = 0.0, 0.0
    for precision, recall in points:
        ap += (recall - previous_recall) * precision
        previous_recall = recall
    positives, negatives = scores[labels], scores[~labels]
    pairs = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return ap, points, pairs / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pr_metrics_match_their_definitions_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(300) < 0.2
    scores = np.round(rng.random(300) + 0.5 * labels, 1)  # coarse: many ties
    ap, points, auc = _brute_force(labels, scores)
    assert average_precision(labels, scores) == pytest.approx(ap, abs=1e-12)
    assert roc_auc(labels, scores) == pytest.approx(auc, abs=1e-12)
    for level in (0.3, 0.5, 0.8):
        assert precision_at_recall(labels, scores, level) == pytest.approx(max(p for p, r in points if r >= level), abs=1e-12)


def test_pr_metrics_reject_what_they_cannot_judge():
    with pytest.raises(ValueError, match="no positive labels"):
        average_precision(np.zeros(5, bool), np.arange(5.0))
    with pytest.raises(ValueError, match="NaN"):
        average_precision(np.array([1, 0]), np.array([np.nan, 0.2]))
    with pytest.raises(ValueError, match="recall must be"):
        precision_at_recall(np.array([1, 0]), np.array([0.1, 0.2]), 0.0)


def test_best_threshold_maximises_net_value():
    rng = np.random.default_rng(4)
    scores = rng.random(500)
    positive = rng.random(500) < scores * 0.6
    amount = rng.uniform(5, 500, 500)
    gain, loss = 0.5 * amount, 0.1 * amount
    chosen = best_threshold(scores, positive, gain=gain, loss=loss)
    net = [np.sum(np.where(positive, gain, -loss)[scores >= t]) for t in scores]
    assert chosen["net_value"] == pytest.approx(max(net))
    assert chosen["threshold"] == pytest.approx(scores[int(np.argmax(net))])
    flagged = scores >= chosen["threshold"]
    assert chosen["precision"] == pytest.approx(positive[flagged].mean())
    assert chosen["recall"] == pytest.approx(positive[flagged].sum() / positive.sum())


def test_best_threshold_falls_back_to_break_even_without_positives():
    chosen = best_threshold(np.array([0.2, 0.4]), np.array([False, False]), gain=np.array([3.0, 3.0]), loss=np.array([1.0, 1.0]))
    assert chosen["source"] == "break_even" and chosen["threshold"] == pytest.approx(0.25)


def _python_action(policy, p, types, other, attempts, ratio90, rate1h, rate7d):
    """Reference implementation of the documented rules (NULLs never fire a rule)."""
    t = dict(zip(DECLINE_TYPES, types))
    thresholds = policy["thresholds"]
    known = lambda *values: all(value is not None for value in values)  # noqa: E731
    if (known(rate1h, rate7d, attempts) and rate1h < policy["outage_ratio"] * rate7d and attempts >= policy["trusted_min_attempts"]
            and (ratio90 if ratio90 is not None else 0.0) <= policy["trusted_max_decline_ratio"] and p * t["technical"] >= thresholds["stand_in_approval"]):
        return "stand_in_approval"
    if p * (t["authentication_required"] + t["do_not_honor"]) >= thresholds["step_up_authentication"]:
        return "step_up_authentication"
    if known(other) and other > 0 and p * (t["insufficient_funds"] + t["hard_decline"]) >= thresholds["offer_other_instrument"]:
        return "offer_other_instrument"
    return "proceed"


def test_sql_policy_macro_follows_the_documented_rules():
    rng = np.random.default_rng(8)
    n = 400
    p = rng.random(n)
    types = rng.dirichlet(np.ones(len(DECLINE_TYPES)), n)
    codes = np.where(rng.random(n) < p, rng.choice(np.array(DECLINE_TYPES, dtype=object), n), None)
    other, attempts = rng.integers(0, 3, n).astype(float), rng.integers(0, 30, n).astype(float)
    ratio90, rate1h, rate7d = rng.random(n) * 0.3, rng.random(n), rng.random(n)
    policy = choose_decline_policy(
        p_decline=p, type_probabilities=types, decline_code=codes, usd_amount_minor=rng.uniform(500, 50_000, n),
        other_approved_cards=other, attempts_before=attempts, decline_ratio_90d=ratio90, approval_rate_1h=rate1h,
        approval_rate_7d=rate7d, costs=DeclineCosts(), min_positives=5,
    )
    assert set(policy_inputs(p, types)) == set(policy["thresholds"])
    connection = duckdb.connect()
    register_decline_action(connection, "issuer_decline", policy)
    rows = [(float(p[i]), {name: float(v) for name, v in zip(DECLINE_TYPES, types[i])}, other[i], attempts[i], ratio90[i], rate1h[i], rate7d[i])
            for i in range(n)]
    rows.append((0.9, {name: 0.2 for name in DECLINE_TYPES}, None, None, None, None, None))  # NULL card facts
    connection.execute("create table inputs (p double, t struct(" + ", ".join(f"{name} double" for name in DECLINE_TYPES)
                       + "), other double, attempts double, ratio90 double, rate1h double, rate7d double, position integer)")
    connection.executemany("insert into inputs values (?, ?, ?, ?, ?, ?, ?, ?)", [(*row, index) for index, row in enumerate(rows)])
    actions = [row[0] for row in connection.execute(
        "select coalesce(decline_action_issuer_decline(p, t, other, attempts, ratio90, rate1h, rate7d), 'NULL') from inputs order by position"
    ).fetchall()]
    expected = [_python_action(policy, row[0], [row[1][name] for name in DECLINE_TYPES], *row[2:]) for row in rows]
    assert actions == expected
    assert len(set(actions)) >= 3, "the random inputs should exercise several rules"


def test_a_broken_policy_is_refused_with_what_to_do():
    with pytest.raises(ModelArtifactError, match="choose_decline_policy"):
        register_decline_action(duckdb.connect(), "issuer_decline", {"kind": "decline_action", "thresholds": {}})
    with pytest.raises(ModelArtifactError, match="must be a number"):
        register_decline_action(duckdb.connect(), "issuer_decline", {
            "kind": "decline_action", "thresholds": {"stand_in_approval": "high", "step_up_authentication": 0.1, "offer_other_instrument": 0.1},
            "outage_ratio": 0.5, "trusted_min_attempts": 3, "trusted_max_decline_ratio": 0.1})
