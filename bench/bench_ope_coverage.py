"""Quality: how often each off-policy estimate's 95% interval covers the truth in the closed-loop replay.

For each seed, the test replay's settings (12 days x ~1,200 payments, retrained every 2 days,
gw_alpha degraded on days 6-8, the replay's defaults otherwise) give five checks (retrainings
1-5): IPW routing's next policy estimated on held-out logged decisions by IPS, clipped IPS and
SNIPS, against its true value on those payments. Prints one JSON line per check and writes
bench/results/ope_coverage.json: per estimator the covered count, the checks, and the mean and
standard deviation of z = (truth - estimate) / standard error (a calibrated interval has z ~ N(0, 1)).

    .venv/bin/python bench/bench_ope_coverage.py --seeds 1-6 > a.jsonl &
    .venv/bin/python bench/bench_ope_coverage.py --seeds 7-12 > b.jsonl
    .venv/bin/python bench/bench_ope_coverage.py --from-jsonl a.jsonl b.jsonl --json
"""
from __future__ import annotations

import argparse
import json
import statistics
import warnings
from pathlib import Path

from scoring.closed_loop import run_closed_loop
from scoring.replay_ope import REPORTED_ESTIMATORS

RESULTS = Path(__file__).parent / "results" / "ope_coverage.json"
_Z95 = 1.959963984540054


def checks(seed: int) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_closed_loop(days=12, payments_per_day=1_200, seed=seed, retrain_every=2)
    return [{"seed": seed, "retraining": c.retraining, "rows": c.rows, "truth": c.truth_logged_contexts,
             **{name: list(c.estimates[name]) for name in REPORTED_ESTIMATORS}} for c in result.ope]


def summarise(rows: list[dict]) -> dict[str, float]:
    figures: dict[str, float] = {"checks": len(rows), "seeds": len({r["seed"] for r in rows})}
    for name in REPORTED_ESTIMATORS:
        z = [(r["truth"] - r[name][0]) / ((r[name][2] - r[name][1]) / 2 / _Z95) for r in rows]
        figures[f"{name}_covered"] = sum(r[name][1] <= r["truth"] <= r[name][2] for r in rows)
        figures[f"{name}_z_mean"] = round(statistics.mean(z), 3)
        figures[f"{name}_z_sd"] = round(statistics.pstdev(z), 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1-12", help="e.g. 1-12 or 1,5,7")
    parser.add_argument("--json", action="store_true", help=f"write the summary to {RESULTS}")
    parser.add_argument("--from-jsonl", nargs="+", default=None, help="summarise the JSON lines of earlier runs instead of running")
    args = parser.parse_args()
    if args.from_jsonl:
        rows = [json.loads(line) for path in args.from_jsonl for line in Path(path).read_text().splitlines() if line.startswith('{"')]
    else:
        first, _, last = args.seeds.partition("-")
        seeds = range(int(first), int(last) + 1) if last else [int(x) for x in args.seeds.split(",")]
        rows = []
        for seed in seeds:
            for row in checks(seed):
                rows.append(row)
                print(json.dumps(row), flush=True)
    figures = summarise(rows)
    if args.json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
