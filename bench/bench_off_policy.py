"""Benchmark: how often each off-policy estimator's 95% interval covers the simulator's truth.

The setup of tests/policy/test_simulator_truth.py (tests/policy/routing_bandit.py: ~5,000
simulated attempts, six routing actions, a softmax logging policy with known propensities, an
approval-seeking target) is repeated over `--seeds` seeds of the logged actions, rewards and
reward-model noise, each time through the decision log (append, point-in-time bandit views,
evaluate_policy with max_weight 5). Two reward models: an unbiased noisy one (the truth plus
uniform noise) and a wrong one (each action's mean logged approval, ignoring the context).

Prints and writes bench/results/off_policy.json: per reward model and estimator the coverage,
the mean error (bias), the spread of the estimates and the mean reported standard error; and
how often every interval that should cover does (`all_cover`).

    .venv/bin/python bench/bench_off_policy.py --seeds 200
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "tests" / "policy"))

from routing_bandit import draw_log, noisy_reward_model, per_action_reward_model, routing_bandit  # noqa: E402
from test_simulator_truth import _evaluate  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "off_policy.json"
MODELS = {"unbiased_noisy_model": ("ips", "clipped_ips", "snips", "dm", "dr"), "per_action_mean_model": ("ips", "clipped_ips", "snips", "dr")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--attempts", type=int, default=5_000)
    arguments = parser.parse_args()
    bandit = routing_bandit(Path(tempfile.mkdtemp()) / "raw", attempts=arguments.attempts, seed=11)
    print(f"{len(bandit.approval)} attempts; truth {bandit.truth:.4f}, logging policy's value {bandit.logging_value:.4f}")
    results: dict[str, float] = {"attempts": len(bandit.approval), "truth": bandit.truth, "logging_value": bandit.logging_value,
                                 "seeds": arguments.seeds}
    began = time.perf_counter()
    for model, should_cover in MODELS.items():
        errors, standard_errors, covered, all_cover = {}, {}, {}, 0
        for seed in range(arguments.seeds):
            rng = np.random.default_rng(seed)
            actions, approved = draw_log(bandit, rng)
            predicted = noisy_reward_model(bandit, rng) if model == "unbiased_noisy_model" else per_action_reward_model(actions, approved)
            evaluation = _evaluate(bandit, actions, approved, predicted)
            for name, estimate in evaluation.estimates.items():
                errors.setdefault(name, []).append(estimate.value - bandit.truth)
                standard_errors.setdefault(name, []).append(estimate.standard_error)
                covered[name] = covered.get(name, 0) + estimate.covers(bandit.truth)
            all_cover += all(evaluation.estimates[name].covers(bandit.truth) for name in should_cover)
        print(f"\n{model}: all of {', '.join(should_cover)} cover in {all_cover / arguments.seeds:.1%} of {arguments.seeds} seeds")
        print(f"{'estimator':<12} {'coverage':>9} {'bias':>9} {'sd':>8} {'mean se':>8}")
        for name in errors:
            row = {"coverage": covered[name] / arguments.seeds, "bias": float(np.mean(errors[name])),
                   "sd": float(np.std(errors[name])), "mean_se": float(np.mean(standard_errors[name]))}
            print(f"{name:<12} {row['coverage']:>9.1%} {row['bias']:>+9.4f} {row['sd']:>8.4f} {row['mean_se']:>8.4f}")
            results.update({f"{model}_{name}_{key}": value for key, value in row.items()})
        results[f"{model}_all_cover"] = all_cover / arguments.seeds
    results["seconds"] = time.perf_counter() - began
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{results['seconds']:.0f} s; written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
