"""The simulator: deterministic, contract-shaped, and faithful to its own ground truth."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from payloom_sim import RAW_SCHEMAS, SimulatorError, approval_probability, build_world, load_attempt_context, simulate
from payloom_sim.truth import decline_code_probabilities
from payloom_sim.world import DECLINE_CODES, GATEWAYS, OPTIMIZATION_COMBOS


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "raw"
    simulate(out, attempts=60_000, seed=5, days=60)
    return out


def digest(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*.parquet"))}


def query(world_dir: Path, sql: str):
    connection = duckdb.connect()
    for table in RAW_SCHEMAS:
        connection.execute(f"create view {table} as select * from read_parquet('{world_dir}/{table}/*.parquet')")
    connection.execute(f"create view truth as select * from read_parquet('{world_dir}/_truth/attempt_context/*.parquet')")
    return connection.execute(sql)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = simulate(tmp_path / "a", attempts=5_000, seed=11, days=20).out_dir
    second = simulate(tmp_path / "b", attempts=5_000, seed=11, days=20).out_dir
    third = simulate(tmp_path / "c", attempts=5_000, seed=12, days=20).out_dir
    assert digest(first) == digest(second)
    assert len(digest(first)) >= 5 + 3
    assert digest(first)["payment_attempts/part-00000.parquet"] != digest(third)["payment_attempts/part-00000.parquet"]


def test_schemas_are_the_contract(world_dir):
    for table, schema in RAW_SCHEMAS.items():
        assert pq.read_schema(next((world_dir / table).glob("*.parquet"))) == schema, table


def test_contract_invariants(world_dir):
    (rows, unique_ids, negative, bad_codes, bad_propensity, bad_expiry, unknown_currency) = query(world_dir, """
        select count(*), count(distinct attempt_id), count(*) filter (where amount_minor < 0),
               count(*) filter (where (decline_code is null) != is_approved),
               count(*) filter (where decision_propensity <= 0 or decision_propensity > 1),
               count(*) filter (where card_expires_on != last_day(card_expires_on)),
               count(*) filter (where currency_code not in ('USD', 'GBP', 'EUR', 'BRL', 'INR', 'MXN'))
        from payment_attempts""").fetchone()
    assert rows == unique_ids and negative == bad_codes == bad_propensity == bad_expiry == unknown_currency == 0
    optimizations = {row[0] for row in query(world_dir, "select distinct optimization from payment_attempts").fetchall()}
    assert optimizations <= set(OPTIMIZATION_COMBOS) and "none" in optimizations
    for value in optimizations:
        assert value.split("+") == sorted(value.split("+"))
    null_propensity = query(world_dir, "select avg((decision_propensity is null)::int) from payment_attempts").fetchone()[0]
    assert 0.003 < null_propensity < 0.03
    retries = query(world_dir, "select count(*) - count(distinct payment_id) from payment_attempts").fetchone()[0]
    assert retries > 0


def within_sampling_error(observed: float, expected: float, variance_sum: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(observed - expected) <= sigmas * np.sqrt(variance_sum) / n + 1e-12


def test_empirical_approval_matches_truth_overall_and_by_group(world_dir):
    groups = query(world_dir, """
        select truth.gateway, truth.optimization, count(*), avg(payment_attempts.is_approved::int),
               avg(truth.p_approve), sum(truth.p_approve * (1 - truth.p_approve))
        from payment_attempts join truth using (attempt_id)
        group by all having count(*) > 300""").fetchall()
    assert len(groups) >= 10
    for gateway, optimization, n, observed, expected, variance in groups:
        assert within_sampling_error(observed, expected, variance, n), (gateway, optimization, observed, expected)


def test_truth_function_reproduces_logged_probabilities(world_dir):
    manifest = json.loads((world_dir / "_manifest.json").read_text())
    world = build_world(seed=manifest["seed"], days=manifest["days"])
    context = load_attempt_context(world_dir)
    recomputed = approval_probability(world, context, context["gateway"], context["optimization"])
    np.testing.assert_allclose(recomputed, context["p_approve"], rtol=1e-12)


def test_decline_codes_match_truth(world_dir):
    manifest = json.loads((world_dir / "_manifest.json").read_text())
    world = build_world(seed=manifest["seed"], days=manifest["days"])
    context = load_attempt_context(world_dir)
    expected = decline_code_probabilities(world, context, context["gateway"], context["optimization"])
    observed = dict(query(world_dir, "select decline_code, count(*) from payment_attempts where decline_code is not null group by 1").fetchall())
    n = len(context["attempt_id"])
    for code in DECLINE_CODES:
        p = expected[code]
        assert within_sampling_error(observed.get(code, 0) / n, p.mean(), (p * (1 - p)).sum(), n), code


def test_logging_policy_splits_visa_us_40_60_and_the_40_gateway_is_better(world_dir):
    shares = dict(query(world_dir, """
        select gateway, avg((gateway is not null)::int) * count(*) / sum(count(*)) over ()
        from payment_attempts where card_network = 'visa' and issuer_country = 'US' and decision_propensity is not null
        group by gateway""").fetchall())
    assert shares.keys() == {"gw_alpha", "gw_beta"}
    assert abs(shares["gw_alpha"] - 0.4) < 0.03
    manifest = json.loads((world_dir / "_manifest.json").read_text())
    world = build_world(seed=manifest["seed"], days=manifest["days"])
    context = load_attempt_context(world_dir)
    visa_us = (context["network"] == 0) & (context["country"] == 0)
    subset = {key: value[visa_us] for key, value in context.items()}
    alpha = approval_probability(world, subset, "gw_alpha", "none").mean()
    beta = approval_probability(world, subset, "gw_beta", "none").mean()
    assert alpha > beta + 0.03


def test_gateways_degrade_for_days_then_recover():
    world = build_world(seed=5, days=60)
    for gateway in range(len(GATEWAYS)):
        degraded = world.gateway_degradation[gateway] > 0
        assert 0 < degraded.sum() < 60 * 0.5
        assert not degraded[-1] or not degraded.all()
    from payloom_sim.truth import example_context

    context = example_context(200)
    day = int(np.flatnonzero(world.gateway_degradation[0] > 0)[0])
    normal_day = int(np.flatnonzero(world.gateway_degradation[0] == 0)[0])
    during = approval_probability(world, {**context, "day": np.full(200, day)}, "gw_alpha", "none").mean()
    outside = approval_probability(world, {**context, "day": np.full(200, normal_day)}, "gw_alpha", "none").mean()
    assert during < outside - 0.02


def test_offer_acceptance_matches_truth(world_dir):
    n, accepted, expected, variance = query(world_dir, f"""
        select count(*), avg(is_accepted::int), avg(p_accept), sum(p_accept * (1 - p_accept))
        from offers join read_parquet('{world_dir}/_truth/offers/*.parquet') using (offer_id)""").fetchone()
    assert n > 100
    assert within_sampling_error(accepted, expected, variance, n)
    revenue_varies = query(world_dir, "select stddev(revenue_minor) / avg(revenue_minor) from offers where is_accepted").fetchone()[0]
    assert revenue_varies > 0.5


def test_dirty_rows_are_counted_in_the_manifest(tmp_path):
    out = simulate(tmp_path / "dirty", attempts=20_000, seed=3, days=20, dirty_fraction=0.005).out_dir
    manifest = json.loads((out / "_manifest.json").read_text())
    injected = manifest["dirty_rows"]["payment_attempts"]
    counts = query(out, """
        select count(*) filter (where card_id is null), count(*) filter (where amount_minor < 0),
               count(*) filter (where currency_code = 'ZZZ'), count(*) - count(distinct attempt_id),
               count(*) filter (where attempted_at >= '2100-01-01')
        from payment_attempts""").fetchone()
    assert list(counts) == [injected[kind] for kind in ("null_card_id", "negative_amount", "unknown_currency", "duplicate_attempt_id", "future_attempted_at")]
    assert all(count > 0 for count in counts)
    offers = query(out, "select count(*) filter (where revenue_minor < 0), count(*) filter (where product = 'time_machine') from offers").fetchone()
    assert list(offers) == [manifest["dirty_rows"]["offers"]["negative_revenue"], manifest["dirty_rows"]["offers"]["unknown_product"]]


def test_memory_is_bounded_by_the_chunk_not_the_size(tmp_path):
    import tracemalloc

    def peak(attempts: int, chunk_attempts: int = 5_000) -> int:
        tracemalloc.start()
        simulate(tmp_path / f"{attempts}-{chunk_attempts}", attempts=attempts, seed=1, days=2, write_truth=False,
                 chunk_attempts=chunk_attempts, overwrite=True)
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak_bytes

    # 8x the attempts in the same number of days: chunks stay at 5,000 attempts, so the peak
    # grows only with the (small) card and customer populations, far less than 8x.
    peak(20_000)  # warm-up: first-call allocations (caches, registries) are not the simulator's
    small, large = peak(20_000), peak(160_000)
    assert large < small * 2.5, (small, large)
    unchunked = peak(160_000, chunk_attempts=1_000_000)
    assert unchunked > 3 * large, (large, unchunked)


def test_bad_arguments_say_what_to_pass(tmp_path):
    with pytest.raises(SimulatorError, match="attempts must be between 1,000 and 50,000,000, got 10"):
        simulate(tmp_path / "x", attempts=10)
    simulate(tmp_path / "y", attempts=1_000, days=2)
    with pytest.raises(SimulatorError, match="is not empty: pass overwrite=True"):
        simulate(tmp_path / "y", attempts=1_000, days=2)


def test_cli_entry_point(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "payloom_sim", "--out", str(tmp_path / "raw"), "--attempts", "2000", "--days", "5"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "payment_attempts: 2,0" in ok.stdout and "simulated day 5/5" in ok.stderr
    bad = subprocess.run([sys.executable, "-m", "payloom_sim", "--out", str(tmp_path / "raw2"), "--attempts", "5"], capture_output=True, text=True)
    assert bad.returncode == 2 and "payloom-sim: error: attempts must be between" in bad.stderr
