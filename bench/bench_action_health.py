"""Quality: the closed-loop replay with and without the learning policies' gateway-health
recalibration (`scoring.action_health`, the replay's default `REPLAY_HEALTH`).

Runs the test replay's settings (12 days x ~1,200 payments, retrained every 2 days, epsilon 0.1,
gw_alpha degraded on days 6-8) per gateway spread x seed x variant and prints one JSON line per
run: the smallest bandit - static margin from version 2 on, the margins per version, recovery
(retrainings), IPW routing's share of the routing oracle's lift, totals, the bandit's daily factors.
With `--json`, also writes bench/results/action_health.json (flat name: number, means over seeds).
Results: docs/closed_loop_replay.md, "Gateway health".

    .venv/bin/python bench/bench_action_health.py --spreads 1.0 --seeds 1-12 --variants off,on --json
    # or two halves side by side, then:  bench_action_health.py --from-jsonl a.jsonl b.jsonl --json
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from dataclasses import replace

from scoring.closed_loop import REPLAY_HEALTH, run_closed_loop
from scoring.replay_report import summarise_replay

REPLAY = {"days": 12, "payments_per_day": 1_200, "retrain_every": 2}
#: off: neither policy; on: the bandit (the replay's default); on_routing: IPW routing too; the rest vary on_routing.
VARIANTS = {"off": {"health": None}, "on": {}, "on_routing": {"routing_health": REPLAY_HEALTH},
            "on_routing_block200": {"routing_health": REPLAY_HEALTH, "health_block": 200},
            "on_routing_penalty_only": {"routing_health": replace(REPLAY_HEALTH, high=1.0)},
            "on_routing_k200": {"routing_health": replace(REPLAY_HEALTH, k=200.0)}}
RESULTS = Path(__file__).parent / "results" / "action_health.json"


def run(seed: int, spread: float, name: str) -> dict:
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_closed_loop(seed=seed, gateway_spread=spread, **VARIANTS[name], **REPLAY)
    summary = summarise_replay(result)
    later = summary.periods[summary.periods.version >= 2]
    totals = {policy: summary.totals[policy]["expected_approval"] for policy in summary.totals}
    return {"seed": seed, "spread": spread, "variant": name,
            "min_margin": float(later.bandit_minus_static.min()),
            "bandit_ahead_from_v2": bool((later.bandit_minus_static > 0).all()),
            "margins": [round(float(v), 4) for v in summary.periods.bandit_minus_static],
            "recovery": summary.recovery["bandit"][0], "routing_recovery": summary.recovery["ipw_routing"][0],
            "routing_share": (totals["ipw_routing"] - totals["static"]) / (totals["routing_oracle"] - totals["static"]),
            **{f"expected_{policy}": value for policy, value in totals.items()},
            "ope_held_out_covered": sum(c.covers("snips", c.truth_logged_contexts) for c in result.ope),
            "ope_next_period_covered": sum(c.covers("snips", c.truth_next_period) for c in result.ope), "ope_checks": len(result.ope),
            "bandit_scales": [[round(x, 3) for x in day] for day in result.gateway_scales.get("bandit", [])],
            "seconds": round(time.perf_counter() - began, 1)}


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spreads", default="1.0")
    parser.add_argument("--seeds", default="1-12", help="e.g. 1-12 or 1,5,7")
    parser.add_argument("--variants", default="off,on")
    parser.add_argument("--json", action="store_true", help=f"write the means per variant to {RESULTS}")
    parser.add_argument("--from-jsonl", nargs="+", default=None,
                        help="summarise the JSON lines of earlier runs (e.g. two halves run side by side) instead of running")
    args = parser.parse_args()
    runs = []
    if args.from_jsonl:
        runs = [json.loads(line) for path in args.from_jsonl for line in Path(path).read_text().splitlines() if line.startswith('{"')]
    else:
        for spread in (float(x) for x in args.spreads.split(",")):
            for seed in _seeds(args.seeds):
                for name in args.variants.split(","):
                    runs.append(run(seed, spread, name))
                    print(json.dumps(runs[-1]), flush=True)
    if args.json:
        figures = {}
        for spread in sorted({r["spread"] for r in runs}):
            for name in sorted({r["variant"] for r in runs}):
                group = [r for r in runs if r["spread"] == spread and r["variant"] == name]
                if not group:
                    continue
                prefix = f"spread_{spread:g}_{name}_"
                figures[prefix + "seeds"] = len(group)
                figures[prefix + "bandit_ahead_from_v2_seeds"] = sum(r["bandit_ahead_from_v2"] for r in group)
                figures[prefix + "bandit_recovered_within_2_seeds"] = sum(r["recovery"] is not None and r["recovery"] <= 2 for r in group)
                figures[prefix + "bandit_min_margin_points_mean"] = round(100 * sum(r["min_margin"] for r in group) / len(group), 3)
                figures[prefix + "routing_lift_share_mean"] = round(sum(r["routing_share"] for r in group) / len(group), 3)
                figures[prefix + "routing_lift_share_min"] = round(min(r["routing_share"] for r in group), 3)
                figures[prefix + "ope_held_out_covered"] = sum(r["ope_held_out_covered"] for r in group)
                figures[prefix + "ope_next_period_covered"] = sum(r["ope_next_period_covered"] for r in group)
                figures[prefix + "ope_checks"] = sum(r["ope_checks"] for r in group)
                figures[prefix + "bandit_expected_approval_mean"] = round(sum(r["expected_bandit"] for r in group) / len(group), 4)
                figures[prefix + "replay_seconds_mean"] = round(sum(r["seconds"] for r in group) / len(group), 1)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
        print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
