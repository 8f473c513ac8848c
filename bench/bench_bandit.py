"""Benchmark: contextual-bandit decisions per second from SQL, and where the time goes.

A small oracle (XGBoost, `--trees` trees of depth 4 on 8 context features + 4 action encodings,
trained with inverse-propensity weights on 20,000 synthetic logged decisions) is compiled and
published; `--payments` payments (default 1 M: card network, channel, 8 context features) are
made in DuckDB. Then, in the same run:

- end to end: `create table ... as select * from decide_optimization('payments')`;
- staged: the same three stages materialised one after the other, each timed: explode (payments x
  eligible optimisation sets, with encodings), score (the oracle UDF on every candidate), policy +
  draw (group per decision, alpha-greedy + softmax probabilities, md5-seeded draw, candidates list).

Writes bench/results/bandit.json (decisions per second, seconds and shares per stage, candidates
per payment, and ratio_end_to_end_vs_staged_sum).

    .venv/bin/python bench/bench_bandit.py                  # 1 M payments
    .venv/bin/python bench/bench_bandit.py --payments 200000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from scoring.bandit_decisions import default_eligibility, register_bandit
from scoring.bandit_oracle import action_encodings, publish_oracle, train_oracle
from scoring.bandit_policy import BanditPolicy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "bandit.json"
CONTEXT = tuple(f"context_{k}" for k in range(8))
NETWORKS = ("visa", "mastercard", "amex", "discover")


def _oracle(registry: Path, trees: int, seed: int):
    """Train on synthetic logs: actions uniform among the eligible ones, approval logistic in context and action."""
    rng = np.random.default_rng(seed)
    rules = default_eligibility().to_pylist()
    rows = 20_000
    context = rng.normal(size=(rows, len(CONTEXT)))
    network = rng.choice(NETWORKS, rows, p=[0.55, 0.3, 0.1, 0.05])
    channel = rng.random(rows) < 0.6
    eligible = {}
    for rule in rules:
        eligible.setdefault((rule["card_network"], rule["is_card_not_present"]), []).append(rule["action"])
    actions, propensity = [], []
    for n, c in zip(network, channel):
        options = eligible[(str(n), bool(c))]
        actions.append(options[rng.integers(len(options))])
        propensity.append(1 / len(options))
    encodings = action_encodings(actions)
    logit = 1.2 + 0.6 * context[:, 0] - 0.4 * context[:, 1] + encodings @ np.array([0.3, 0.1, 0.4, 0.2]) * (1 + 0.5 * context[:, 2])
    approved = rng.random(rows) < 1 / (1 + np.exp(-logit))
    booster = train_oracle(context, actions, approved, np.array(propensity), num_boost_round=trees, max_depth=4, nthread=2)
    return publish_oracle(registry, "bench_oracle", booster, CONTEXT)


def _timed(connection: duckdb.DuckDBPyConnection, sql: str) -> float:
    began = time.perf_counter()
    connection.execute(sql)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    arguments = parser.parse_args()

    artifact = _oracle(Path(tempfile.mkdtemp()), arguments.trees, arguments.seed)
    connection = duckdb.connect()
    bandit = register_bandit(connection, artifact, policy=BanditPolicy(alpha=0.9, temperature=0.05, seed=arguments.seed))
    features = ", ".join(f"random() * 4 - 2 as {name}" for name in CONTEXT)
    connection.execute(f"select setseed(0.{arguments.seed + 1})")
    connection.execute(f"""create table payments as select 'dec_' || i as decision_id,
        ['visa', 'mastercard', 'amex', 'discover'][1 + (i * 7919 % 20 > 10)::int + (i * 7919 % 20 > 16)::int + (i * 7919 % 20 > 18)::int] as card_network,
        i % 5 < 3 as is_card_not_present, {features}
        from range({arguments.payments}) as r(i)""")
    connection.execute("create table warm as select * from payments limit 10000")
    connection.execute("create temp table warm_decisions as select * from decide_optimization('warm')")   # bind and load once

    end_to_end = _timed(connection, "create temp table decisions as select * from decide_optimization('payments')")
    explode = _timed(connection, f"create temp table staged_exploded as {bandit.explode_sql('payments')}")
    score = _timed(connection, f"create temp table staged_scored as {bandit.score_sql('staged_exploded')}")
    policy = _timed(connection, f"create temp table staged_decided as {bandit.decide_sql('staged_scored')}")
    candidates = connection.execute("select count(*) from staged_exploded").fetchone()[0]
    decided = connection.execute("select count(*), sum(propensity) from decisions").fetchone()
    same = connection.execute("select count(*) from decisions join staged_decided using (decision_id) "
                              "where decisions.chosen_action = staged_decided.chosen_action").fetchone()[0]
    staged = explode + score + policy
    results = {
        "payments": arguments.payments, "oracle_trees": arguments.trees, "cpu_count": os.cpu_count(),
        "duckdb_threads": int(connection.execute("select current_setting('threads')").fetchone()[0]),
        "candidates_per_payment": candidates / arguments.payments,
        "end_to_end_seconds": end_to_end, "decisions_per_second": arguments.payments / end_to_end,
        "explode_seconds": explode, "score_seconds": score, "policy_and_draw_seconds": policy,
        "share_explode": explode / staged, "share_score": score / staged, "share_policy_and_draw": policy / staged,
        "scored_candidates_per_second": candidates / score,
        "ratio_end_to_end_vs_staged_sum": end_to_end / staged,
        "staged_decisions_equal_end_to_end": int(same == decided[0] == arguments.payments),
    }
    for name, value in results.items():
        print(f"{name:<36} {value:,.4f}" if isinstance(value, float) else f"{name:<36} {value}")
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
