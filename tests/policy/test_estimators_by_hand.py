"""Every estimator against values computed by hand on a five-row log (plain arithmetic, no payloom code)."""

from __future__ import annotations

import math
import statistics

import duckdb
import pytest

from scoring.errors import ExcludedRowsWarning
from scoring.off_policy import evaluate_policy, estimator_sql

Z95 = 1.959963984540054
# context, logged action, reward, propensity, pi(a | x), pi(b | x), q(x, a), q(x, b)
ROWS = [
    ("c1", "a", 1.0, 0.50, 0.8, 0.2, 0.7, 0.4),
    ("c2", "b", 0.0, 0.25, 0.5, 0.5, 0.6, 0.3),
    ("c3", "a", 0.0, 0.80, 1.0, 0.0, 0.5, 0.5),
    ("c4", "b", 1.0, 0.40, 0.3, 0.7, 0.2, 0.9),
    ("c5", "a", 1.0, 0.10, 0.9, 0.1, 0.6, 0.2),
]
# the same five rows' weights pi(logged action) / propensity, written out
WEIGHTS = [0.8 / 0.5, 0.5 / 0.25, 1.0 / 0.8, 0.7 / 0.4, 0.9 / 0.1]          # 1.6, 2, 1.25, 1.75, 9
REWARDS = [1.0, 0.0, 0.0, 1.0, 1.0]
DIRECT = [0.8 * 0.7 + 0.2 * 0.4, 0.5 * 0.6 + 0.5 * 0.3, 1.0 * 0.5 + 0.0 * 0.5, 0.3 * 0.2 + 0.7 * 0.9, 0.9 * 0.6 + 0.1 * 0.2]
Q_LOGGED = [0.7, 0.3, 0.5, 0.9, 0.6]


def _load(connection: duckdb.DuckDBPyConnection, rows) -> None:
    connection.execute("create or replace table logged (context_id varchar, action varchar, reward double, propensity double)")
    connection.execute("create or replace table target (context_id varchar, action varchar, probability double)")
    connection.execute("create or replace table model (context_id varchar, action varchar, predicted_reward double)")
    for context, action, reward, propensity, pi_a, pi_b, q_a, q_b in rows:
        connection.execute("insert into logged values (?, ?, ?, ?)", [context, action, reward, propensity])
        connection.executemany("insert into target values (?, ?, ?)", [[context, "a", pi_a], [context, "b", pi_b]])
        connection.executemany("insert into model values (?, ?, ?)", [[context, "a", q_a], [context, "b", q_b]])


def _mean_and_se(terms: list[float]) -> tuple[float, float]:
    return sum(terms) / len(terms), statistics.stdev(terms) / math.sqrt(len(terms))


def _expected() -> dict[str, tuple[float, float]]:
    n = len(REWARDS)
    ips = [w * r for w, r in zip(WEIGHTS, REWARDS)]                       # 1.6, 0, 0, 1.75, 9
    clipped = [min(w, 4.0) * r for w, r in zip(WEIGHTS, REWARDS)]         # 1.6, 0, 0, 1.75, 4
    dr = [d + w * (r - q) for d, w, r, q in zip(DIRECT, WEIGHTS, REWARDS, Q_LOGGED)]
    snips = sum(ips) / sum(WEIGHTS)                                       # 12.35 / 15.6
    snips_se = math.sqrt(sum((w * (r - snips)) ** 2 for w, r in zip(WEIGHTS, REWARDS)) / (n - 1) / n) / (sum(WEIGHTS) / n)
    return {"ips": _mean_and_se(ips), "clipped_ips": _mean_and_se(clipped), "snips": (snips, snips_se),
            "dm": _mean_and_se(DIRECT), "dr": _mean_and_se(dr)}


def test_the_hand_computed_values_are_what_we_think() -> None:
    expected = _expected()
    assert expected["ips"][0] == pytest.approx(2.47)
    assert expected["clipped_ips"][0] == pytest.approx(1.47)
    assert expected["snips"][0] == pytest.approx(12.35 / 15.6)
    assert expected["dm"][0] == pytest.approx(0.568)
    assert expected["dr"][0] == pytest.approx(1.174)


def test_every_estimator_matches_the_hand_computed_value_and_interval() -> None:
    connection = duckdb.connect()
    _load(connection, ROWS)
    evaluation = evaluate_policy(connection, "logged", "target", reward_model="model", max_weight=4.0)
    assert list(evaluation.estimates) == ["ips", "clipped_ips", "snips", "dm", "dr"]
    for name, (value, standard_error) in _expected().items():
        estimate = evaluation.estimates[name]
        assert estimate.value == pytest.approx(value, abs=1e-12), name
        assert estimate.standard_error == pytest.approx(standard_error, abs=1e-12), name
        assert estimate.ci_low == pytest.approx(value - Z95 * standard_error, abs=1e-9), name
        assert estimate.ci_high == pytest.approx(value + Z95 * standard_error, abs=1e-9), name
        assert estimate.rows_used == 5
    assert evaluation.rows_logged == 5 and evaluation.rows_excluded == {}
    assert evaluation.to_arrow().column_names == ["estimator", "value", "standard_error", "ci_low", "ci_high", "rows_used"]


def test_bad_propensities_are_left_out_of_the_weighted_estimators_with_counts_and_a_warning() -> None:
    connection = duckdb.connect()
    bad = [
        ("c6", "a", 1.0, None, 0.5, 0.5, 0.5, 0.5),     # propensity unknown (routed by hand)
        ("c7", "b", 0.0, 0.0, 0.5, 0.5, 0.1, 0.3),      # would divide by zero
        ("c8", "a", 1.0, 1.5, 0.5, 0.5, 0.9, 0.7),      # not a probability
        ("c9", "a", 1.0, -0.2, 0.5, 0.5, 0.5, 0.5),
        ("c10", "a", None, 0.5, 0.5, 0.5, 0.5, 0.5),    # reward not known: out of everything
    ]
    _load(connection, ROWS + bad)
    connection.execute("insert into logged values ('c11', 'a', 1.0, 'nan'::double)")
    connection.executemany("insert into target values (?, ?, ?)", [["c11", "a", 0.5], ["c11", "b", 0.5]])
    connection.executemany("insert into model values (?, ?, ?)", [["c11", "a", 0.4], ["c11", "b", 0.8]])
    with pytest.warns(ExcludedRowsWarning, match=r"6 of 11 logged rows left out \(1 propensity above 1, 2 propensity missing, "
                                                 r"2 propensity not positive, 1 reward missing\)"):
        evaluation = evaluate_policy(connection, "logged", "target", reward_model="model", max_weight=4.0)
    assert evaluation.rows_logged == 11
    assert evaluation.rows_excluded == {"propensity above 1": 1, "propensity missing": 2, "propensity not positive": 2, "reward missing": 1}
    expected = _expected()
    for name in ("ips", "clipped_ips", "snips", "dr"):
        assert evaluation.estimates[name].value == pytest.approx(expected[name][0], abs=1e-12), name
        assert evaluation.estimates[name].rows_used == 5
        assert math.isfinite(evaluation.estimates[name].standard_error)
    direct = DIRECT + [0.5 * 0.5 + 0.5 * 0.5, 0.5 * 0.1 + 0.5 * 0.3, 0.5 * 0.9 + 0.5 * 0.7, 0.5 * 0.5 + 0.5 * 0.5, 0.5 * 0.4 + 0.5 * 0.8]
    assert evaluation.estimates["dm"].value == pytest.approx(sum(direct) / 10, abs=1e-12)
    assert evaluation.estimates["dm"].rows_used == 10


def test_without_a_reward_model_only_the_weighted_estimators_are_computed() -> None:
    connection = duckdb.connect()
    _load(connection, ROWS)
    evaluation = evaluate_policy(connection, "logged", "target", max_weight=4.0)
    assert list(evaluation.estimates) == ["ips", "clipped_ips", "snips"]


def test_a_log_whose_rows_are_all_excluded_gives_no_estimate_rather_than_inf() -> None:
    connection = duckdb.connect()
    _load(connection, [(c, a, r, 0.0, pa, pb, qa, qb) for c, a, r, _, pa, pb, qa, qb in ROWS])
    with pytest.warns(ExcludedRowsWarning, match="5 of 5 logged rows left out"):
        evaluation = evaluate_policy(connection, "logged", "target")
    assert all(estimate.value is None and estimate.rows_used == 0 for estimate in evaluation.estimates.values())
    assert not evaluation.estimates["ips"].covers(0.5)


def test_the_sql_is_inspectable_and_runs_on_its_own() -> None:
    connection = duckdb.connect()
    _load(connection, ROWS)
    sql = estimator_sql("logged", "target", reward_model="model", max_weight=4.0)
    values = {row[0]: row[1] for row in connection.execute(sql).fetchall()}
    assert values["ips"] == pytest.approx(2.47) and values["dr"] == pytest.approx(1.174)
