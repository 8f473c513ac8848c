"""IPW routing: the issue's 40/60 example, per-segment correction, SQL parity, bad input."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from routing_logs import FORTY_SIXTY_FEATURES, GATEWAYS, SEGMENT_BEST, SEGMENT_NAIVE, forty_sixty_log, segmented_log

from scoring.errors import ExcludedRowsWarning, RoutingError
from scoring.ipw_routing import publish_routing_booster, register_route_macro, register_routing_macros, route, train_routing_models
from scoring.routing_log import ipw_bootstrap, ipw_weights, routing_log_from_table
from udfs import register_models

PROBABILITY_TOLERANCE = 1e-6


def preferred(models, features: np.ndarray, kind: str) -> str:
    """The gateway routed to most often over `features` (every gateway eligible)."""
    scores = models.softmax_scores(features) if kind == "softmax" else models.booster_scores(features)
    chosen = route(scores, None, models.gateways)
    names, counts = np.unique(chosen, return_counts=True)
    return str(names[counts.argmax()])


@pytest.mark.parametrize("kind", ["softmax", "xgboost"])
def test_forty_sixty_naive_prefers_b_ipw_prefers_a(forty_sixty, forty_sixty_models, kind):
    features = forty_sixty.features[:2000]
    naive, ipw = forty_sixty_models["naive"], forty_sixty_models["ipw"]
    assert preferred(naive, features, kind) == "gw_b"
    assert preferred(ipw, features, kind) == "gw_a"
    # The mechanism, in numbers: naive class scores ~ share x approval, IPW ones ~ approval / 2.
    naive_mean = (naive.softmax_scores(features) if kind == "softmax" else naive.booster_scores(features)).mean(axis=0)
    ipw_mean = (ipw.softmax_scores(features) if kind == "softmax" else ipw.booster_scores(features)).mean(axis=0)
    assert naive_mean[0] == pytest.approx(0.30, abs=0.02) and naive_mean[1] == pytest.approx(0.36, abs=0.02)
    assert ipw_mean[0] / ipw_mean[1] == pytest.approx(0.75 / 0.60, rel=0.08)


def test_bootstrap_balances_gateways(forty_sixty):
    sample = ipw_bootstrap(forty_sixty, samples_per_gateway=4, random_state=3)
    assert len(sample.classes) == pytest.approx(4 * len(forty_sixty), rel=0.01)
    approved_a, approved_b = (sample.classes == 0).mean(), (sample.classes == 1).mean()
    assert approved_a == pytest.approx(0.75 / 2, abs=0.02) and approved_b == pytest.approx(0.60 / 2, abs=0.02)
    again = ipw_bootstrap(forty_sixty, samples_per_gateway=4, random_state=3)
    assert np.array_equal(sample.classes, again.classes) and np.array_equal(sample.features, again.features)


def test_segment_propensities_are_corrected_per_row():
    table = segmented_log()
    features = ("segment_0", "segment_1", "segment_2", "noise")
    log = routing_log_from_table(table, features, gateways=GATEWAYS)
    segment = table["segment"].to_numpy()
    for weighting, expected in (("naive", SEGMENT_NAIVE), ("ipw", SEGMENT_BEST)):
        models = train_routing_models(log, weighting=weighting, samples_per_gateway=5, num_boost_round=20, nthread=1)
        for kind in ("softmax", "xgboost"):
            got = tuple(preferred(models, log.features[segment == k][:1000], kind) for k in range(3))
            assert got == expected, (weighting, kind)


def test_post_stratified_weights_give_every_gateway_each_segments_rows():
    table = segmented_log(rows=6_000)
    log = routing_log_from_table(table, ("segment_0", "segment_1", "segment_2", "noise"), gateways=GATEWAYS)
    segment = table["segment"].to_numpy()
    for estimated in (False, True):
        weights = ipw_weights(log, segment, estimated=estimated)
        for k in range(3):
            for g in range(len(GATEWAYS)):
                rows = (segment == k) & (log.gateway == g)
                assert weights[rows].sum() == pytest.approx((segment == k).sum(), rel=1e-12), (estimated, k, g)
                if estimated:      # each row of the cell weighs the same: (segment rows) / (cell rows)
                    assert np.ptp(weights[rows]) == pytest.approx(0.0, abs=1e-9)
    plain = ipw_weights(log)
    assert not np.isclose(plain[(segment == 0) & (log.gateway == 0)].sum(), (segment == 0).sum(), rtol=1e-6)
    models = train_routing_models(log, samples_per_gateway=3, num_boost_round=20, nthread=1, softmax=False, strata=segment,
                                  estimated_propensity=True)
    assert tuple(preferred(models, log.features[segment == k][:1000], "xgboost") for k in range(3)) == SEGMENT_BEST


def test_bad_strata_are_clear_errors():
    log = routing_log_from_table(forty_sixty_log(rows=200), FORTY_SIXTY_FEATURES, gateways=GATEWAYS)
    with pytest.raises(RoutingError, match="strata must hold one label per usable row of the log"):
        ipw_weights(log, np.zeros(3))
    with pytest.raises(RoutingError, match="pass strata"):
        ipw_weights(log, estimated=True)
    with pytest.raises(RoutingError, match="with weighting='naive'"):
        train_routing_models(log, weighting="naive", strata=np.zeros(len(log)), softmax=False)


def test_sql_softmax_equals_python(forty_sixty_models):
    models = forty_sixty_models["ipw"]
    connection = duckdb.connect()
    assert register_routing_macros(connection, "routing_lr", models.softmax) == ["score_routing_lr", "route_routing_lr"]
    table = forty_sixty_log(rows=3000, seed=5)
    features = np.column_stack([table[name].to_numpy() for name in FORTY_SIXTY_FEATURES])
    features[::7, 0] = np.nan                                   # missing values: the training mean in both
    connection.register("payments", pa.table({"row_id": np.arange(3000), "noise_1": features[:, 0], "noise_2": features[:, 1]}))
    result = connection.sql("""
        select score_routing_lr(noise_1, noise_2) as scores,
               route_routing_lr(score_routing_lr(noise_1, noise_2), ['gw_a', 'gw_b']) as routed,
               route_routing_lr(score_routing_lr(noise_1, noise_2), ['gw_b']) as only_b
        from payments order by row_id""").to_arrow_table()
    sql_scores = np.array([list(row.values()) for row in result["scores"].to_pylist()])
    python_scores = models.softmax_scores(features)
    assert np.max(np.abs(sql_scores - python_scores)) <= 1e-9
    assert result["routed"].to_pylist() == route(python_scores, None, GATEWAYS).tolist()
    assert set(result["only_b"].to_pylist()) == {"gw_b"}


def test_compiled_booster_udf_equals_booster_and_routes_alike(forty_sixty_models, registry_root):
    models = forty_sixty_models["ipw"]
    artifact = publish_routing_booster(registry_root, "routing_ipw", models)
    assert artifact.manifest.class_names == ["gw_a", "gw_b", "declined"]
    connection = duckdb.connect()
    register_models(connection, registry_root, ["routing_ipw"])
    register_route_macro(connection, "routing_ipw", GATEWAYS)
    table = forty_sixty_log(rows=3000, seed=6)
    features = np.column_stack([table[name].to_numpy() for name in FORTY_SIXTY_FEATURES])
    features[::5, 1] = np.nan
    connection.register("payments", pa.table({"row_id": np.arange(3000), "noise_1": features[:, 0], "noise_2": features[:, 1]}))
    result = connection.sql("""
        select score_routing_ipw(noise_1, noise_2) as scores,
               route_routing_ipw(score_routing_ipw(noise_1, noise_2), ['gw_a', 'gw_b']) as routed
        from payments order by row_id""").to_arrow_table()
    sql_scores = np.array([list(row.values()) for row in result["scores"].to_pylist()])
    expected = models.booster_scores(features)
    assert np.max(np.abs(sql_scores - expected)) <= PROBABILITY_TOLERANCE
    assert result["routed"].to_pylist() == route(sql_scores, None, GATEWAYS).tolist()
    assert np.mean(np.array(result["routed"].to_pylist()) == "gw_a") > 0.9


def test_bad_propensities_are_excluded_with_a_warning():
    table = forty_sixty_log(rows=100)
    propensity = table["decision_propensity"].to_pylist()
    propensity[0], propensity[1], propensity[2], propensity[3] = None, 0.0, 1.5, float("nan")
    table = table.set_column(table.column_names.index("decision_propensity"), "decision_propensity", pa.array(propensity, pa.float64()))
    with pytest.warns(ExcludedRowsWarning, match=r"4 of 100 logged routing rows excluded \(4 propensity NULL, NaN, <= 0 or > 1\)"):
        log = routing_log_from_table(table, FORTY_SIXTY_FEATURES, gateways=GATEWAYS)
    assert len(log) == 96 and log.excluded == {"propensity NULL, NaN, <= 0 or > 1": 4}


def test_unknown_gateways_are_errors(forty_sixty_models):
    with pytest.raises(RoutingError, match=r"logged gateway\(s\) gw_b are not among the model's gateways gw_a, gw_z"):
        routing_log_from_table(forty_sixty_log(rows=50), FORTY_SIXTY_FEATURES, gateways=("gw_a", "gw_z"))
    scores = np.array([[0.3, 0.36, 0.34]])
    with pytest.raises(RoutingError, match="eligible gateway 'gw_c' is not among the model's classes gw_a, gw_b"):
        route(scores, [["gw_a", "gw_c"]], GATEWAYS)
    with pytest.raises(RoutingError, match="row 0 has no eligible gateway"):
        route(scores, [[]], GATEWAYS)
    connection = duckdb.connect()
    register_routing_macros(connection, "routing_lr", forty_sixty_models["ipw"].softmax)
    with pytest.raises(duckdb.Error, match="route_routing_lr: eligible gateway 'gw_c' is not among the model's classes gw_a, gw_b"):
        connection.execute("select route_routing_lr(score_routing_lr(0.0, 1.0), ['gw_c'])").fetchall()
    with pytest.raises(duckdb.Error, match="route_routing_lr: no eligible gateway"):
        connection.execute("select route_routing_lr(score_routing_lr(0.0, 1.0), []::varchar[])").fetchall()
