"""Experiment: the bandit's gateway-health recalibration (`scoring.closed_loop.GatewayHealth`) in the closed-loop replay.

Runs the test replay settings (12 days x ~1,200 payments, retrained every 2 days, epsilon 0.1,
gw_alpha degraded on days 6-8) for each gateway spread x seed x variant, one after the other,
and prints one JSON line per run: the smallest bandit - static margin from version 2 on, the
margins per version, the report's recovery (retrainings), totals, daily margins, the factors r_g.
Results: docs/closed_loop_replay.md, "Gateway-health recalibration".

    .venv/bin/python bench/bench_gateway_health.py 1.0 1,2,3,4,5,6 off,n1200_k50 > build/health.jsonl
"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
from scoring.closed_loop import GatewayHealth, run_closed_loop
from scoring.replay_report import summarise_replay

REPLAY = {"days": 12, "payments_per_day": 1_200, "retrain_every": 2}
VARIANTS = {
    "off": None,
    "day_k30": GatewayHealth(k=30, low=0.5, high=1.2, window_days=1),
    "day_k50": GatewayHealth(k=50, low=0.5, high=1.2, window_days=1),
    "day_k30_logged": GatewayHealth(k=30, low=0.5, high=1.2, window_days=1, reference="logged"),
    "n1200_k30": GatewayHealth(k=30, low=0.5, high=1.2, window_payments=1200, block=100),
    "n600_k30": GatewayHealth(k=30, low=0.5, high=1.2, window_payments=600, block=100),
    "n600_k50": GatewayHealth(k=50, low=0.5, high=1.2, window_payments=600, block=100),
    "n1200_k50": GatewayHealth(k=50, low=0.5, high=1.2, window_payments=1200, block=100),
}

def run(seed, spread, name, health):
    t = time.perf_counter()
    result = run_closed_loop(seed=seed, gateway_spread=spread, gateway_health=health, **REPLAY)
    s = summarise_replay(result)
    later = s.periods[s.periods.version >= 2]
    daily = s.wide()
    out = {"seed": seed, "spread": spread, "variant": name,
           "min_margin": float(later.bandit_minus_static.min()),
           "all_ahead": bool((later.bandit_minus_static > 0).all()),
           "margins": [round(float(v), 4) for v in s.periods.bandit_minus_static],
           "recovery": s.recovery["bandit"][0],
           "bandit": s.totals["bandit"]["expected_approval"], "static": s.totals["static"]["expected_approval"],
           "oracle": s.totals["oracle"]["expected_approval"],
           "bandit_daily_minus_static": [round(float(b - a), 4) for a, b in zip(daily.loc["static"], daily.loc["bandit"])],
           "scales": [[round(x, 3) for x in d] for d in result.gateway_scales],
           "seconds": round(time.perf_counter() - t, 1)}
    print(json.dumps(out), flush=True)

if __name__ == "__main__":
    spreads = [float(x) for x in sys.argv[1].split(",")]
    seeds = [int(x) for x in sys.argv[2].split(",")]
    names = sys.argv[3].split(",")
    for spread in spreads:
        for seed in seeds:
            for name in names:
                run(seed, spread, name, VARIANTS[name])
