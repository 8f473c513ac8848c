"""Where the payoff model's gap to the simulator oracle comes from (docs/cross_sell.md, "Evaluation").

Builds the main job's default world (200,000 attempts, 120 days, offer share 1.5; `--seed`,
`--attempts`, `--offer-share` change it; `--workspace` reuses a built one, whose world arguments
are then the caller's to state), loads `training.training_cross_sell`, splits it
70/15/15 by time as the job does, and trains the expected-payoff model in variants that each
remove one suspect:

- `realised labels`: the model as the job ships it (y r, the 43 CROSS_SELL_FEATURES);
- `noise-free labels`: gain p r̄ from the truth instead of y r (`scoring.cross_sell_ceiling`);
- `deal-size noise removed`: y r̄ (the truth's expected deal size instead of the realised one);
- `+ simulator inputs`: the truth's spend_30d and engagement_30d appended (the features of the
  simulator's acceptance function that the warehouse only approximates);
- `simulator inputs only`: product indicators and the simulator's 7 customer inputs;
- `compact warehouse features`: the indicators plus the warehouse's 7 columns nearest to them;
- hyperparameter neighbours (depth, min_child_weight, learning rate, lambda, max_bin, the Hessian
  floor of the objective), per-product additive trees (interaction constraints), and a refit on
  train + validation with the chosen tree count.

The tree count is always chosen on the realised validation loss. Each variant is trained with
`--seeds` XGBoost seeds (one thread); the table gives its mean validation loss and its expected
(the truth's p r̄ - c) and realised net sales over the oracle's at the 5 / 10 / 20% budgets of
the test period. Writes bench/results/cross_sell_gap.json.

    .venv/bin/python bench/bench_cross_sell_gap.py [--seed 42] [--attempts 200000] [--offer-share 1.5] [--workspace DIR] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np

import scoring.cross_sell_objectives as objectives
from scoring.cross_sell_ceiling import noise_free_frame
from scoring.cross_sell_evaluation import BUDGETS, evaluate_budgets
from scoring.cross_sell_models import CROSS_SELL_PRODUCTS, load_cross_sell_frame, offer_arrays, predict_margin, train_model_kind
from scoring.cross_sell_objectives import expected_payoff_of, sigmoid
from scoring.cross_sell_oracle import offer_truth
from scoring.training_sets import TrainingFrame, time_ordered_split
from scoring.workspace import Workspace

RESULTS = Path(__file__).parent / "results" / "cross_sell_gap.json"
#: With the product, segment and holdings indicators: the warehouse's nearest columns to the simulator's inputs.
COMPACT = ("age_years", "annual_income_usd", "credit_score", "products_held", "interactions_30d", "purchases_30d", "spend_usd_minor_90d")
SIMULATOR_INPUTS = ("segment_code", "age_years", "income_usd", "credit_score", "holdings_count", "engagement_30d", "spend_30d_usd")


def build_world(workspace: Workspace, seed: int, *, attempts: int = 200_000, offer_share: float = 1.5) -> None:
    """The main job's world (by default) and its dbt build (no scores needed)."""
    from payloom_sim import simulate
    from scoring.feature_build import build_features

    simulate(workspace.raw_dir, attempts=attempts, seed=seed, start="2025-01-01", days=120, dirty_fraction=0.001,
             overwrite=True, offer_share=offer_share)
    build_features(workspace, feature_cutoff_at=datetime(2025, 1, 1) + timedelta(days=120), exclude="tag:scores", echo=None)


def truth_columns(workspace: Workspace, frame: TrainingFrame) -> dict[str, np.ndarray]:
    """The simulator's inputs and p r̄ (US cents) of each offer of `frame`, in its order."""
    source = workspace.raw_dir / "_truth" / "offers" / "*.parquet"
    with duckdb.connect() as connection:
        connection.register("wanted", {"offer_id": frame.keys.astype(str), "position": np.arange(len(frame))})
        table = connection.execute(
            "select case truth.segment when 'consumer' then 0 when 'small_business' then 1 else 2 end as segment_code,"
            " truth.age_years, truth.income_usd, truth.credit_score, truth.holdings_count, truth.engagement_30d, truth.spend_30d_usd,"
            " truth.p_accept * truth.expected_revenue_usd * 100 as expected_revenue_usd_minor,"
            " truth.expected_revenue_usd * 100 as deal_size_usd_minor"
            f" from wanted left join read_parquet('{source}') as truth using (offer_id) order by wanted.position"
        ).fetchnumpy()
    return {name: np.asarray(values, dtype=np.float64) for name, values in table.items()}


def with_features(frame: TrainingFrame, names: list[str], columns: np.ndarray) -> TrainingFrame:
    return replace(frame, feature_names=names, feature_types=["float"] * len(names), features=columns)


def concatenated(first: TrainingFrame, second: TrainingFrame) -> TrainingFrame:
    """The rows of `first` then those of `second` (same features)."""
    return replace(first, features=np.concatenate([first.features, second.features]), keys=np.concatenate([first.keys, second.keys]),
                   timestamps=np.concatenate([first.timestamps, second.timestamps]),
                   labels={name: np.concatenate([first.labels[name], second.labels[name]]) for name in first.labels},
                   extras={name: np.concatenate([first.extras[name], second.extras[name]]) for name in first.extras})


def oracle_ratios(workspace: Workspace, test: TrainingFrame, payoff: np.ndarray) -> dict[str, float]:
    """Expected and realised net sales of ranking the test offers by `payoff`, over the oracle's."""
    accepted, revenue, cost = offer_arrays(test)
    truth = offer_truth(workspace.raw_dir, test.keys, cost)
    if truth is None:
        raise SystemExit(f"{workspace.raw_dir} has no simulator truth (_truth/offers); build a simulated world")
    table = evaluate_budgets({"oracle": truth[0], "model": payoff}, accepted, revenue, cost,
                             customers=len(np.unique(test.extras["customer_id"])), expected_payoff=truth[0])
    out = {}
    for budget in BUDGETS:
        model, oracle = table.rows["model"][budget], table.rows["oracle"][budget]
        out[f"expected_{budget:.2f}"] = float(model.expected_net_sales / oracle.expected_net_sales)  # type: ignore[operator]
        out[f"realised_{budget:.2f}"] = model.net_sales / oracle.net_sales
    return out



def variant_key(label: str) -> str:
    """A variant's label as a JSON key part: lower case, runs of other characters as one `_`.

    >>> variant_key("Hessian floor 1e-2 (shipped: 1e-6)")
    'hessian_floor_1e_2_shipped_1e_6'
    """
    return "_".join("".join(ch if ch.isascii() and ch.isalnum() else " " for ch in label.lower()).split())


def flat_figures(results: dict[str, dict]) -> dict[str, float]:
    """bench/results' flat `name: number` form: per variant, mean trees, validation loss, and the
    share of the oracle's expected / realised net sales at each budget (`..._share_of_oracle_at_10pct`).

    >>> flat_figures({"max_depth 4": {"trees": [80, 100], "validation_loss": 0.25, "expected_0.10": 0.93}})
    {'max_depth_4_trees_mean': 90.0, 'max_depth_4_validation_loss': 0.25, 'max_depth_4_expected_net_sales_share_of_oracle_at_10pct': 0.93}
    """
    figures: dict[str, float] = {}
    for label, result in results.items():
        key = variant_key(label)
        for name, value in result.items():
            if name == "trees":
                figures[f"{key}_trees_mean"] = float(np.mean(value))
            elif name.startswith(("expected_", "realised_")):
                kind, budget = name.split("_")
                figures[f"{key}_{kind}_net_sales_share_of_oracle_at_{round(float(budget) * 100)}pct"] = value
            else:
                figures[f"{key}_{name}"] = value
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42, help="world seed (default: the main job's 42)")
    parser.add_argument("--workspace", type=Path, help="an already built workspace (default: build the world in a temporary one)")
    parser.add_argument("--seeds", default="0,1,2", help="XGBoost seeds per variant")
    parser.add_argument("--max-trees", type=int, default=300)
    parser.add_argument("--attempts", type=int, default=200_000, help="world size (customers scale with it); main job: 200,000")
    parser.add_argument("--offer-share", type=float, default=1.5, help="offers per customer and 30 days; main job: 1.5")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    arguments = parser.parse_args()
    workspace = Workspace.at(arguments.workspace or Path(tempfile.mkdtemp(prefix="cross_sell_gap_")))
    if not workspace.warehouse.exists():
        print(f"building the default world (seed {arguments.seed}) in {workspace.root}", file=sys.stderr, flush=True)
        build_world(workspace, arguments.seed, attempts=arguments.attempts, offer_share=arguments.offer_share)
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        frame = load_cross_sell_frame(connection)
    train, validation, test = time_ordered_split(frame, (0.7, 0.15, 0.15))
    accepted, revenue, cost = offer_arrays(train)
    scale = float(np.mean(accepted * revenue + cost))
    truth = {name: truth_columns(workspace, part) for name, part in (("train", train), ("validation", validation), ("test", test))}

    def appended(extra: tuple[str, ...]) -> Callable[[str, TrainingFrame], TrainingFrame]:
        return lambda name, part: with_features(part, [*part.feature_names, *extra],
                                                np.column_stack([part.features, *(truth[name][column] for column in extra)]))

    def simulator_only(name: str, part: TrainingFrame) -> TrainingFrame:
        names = [f"is_product_{product}" for product in CROSS_SELL_PRODUCTS]
        return with_features(part, [*names, *SIMULATOR_INPUTS],
                             np.column_stack([part.features[:, : len(names)], *(truth[name][column] for column in SIMULATOR_INPUTS)]))

    same: Callable[[str, TrainingFrame], TrainingFrame] = lambda name, part: part
    kept = [index for index, feature in enumerate(frame.feature_names) if feature.startswith(("is_", "holds_")) or feature in COMPACT]

    def compact(name: str, part: TrainingFrame) -> TrainingFrame:
        return with_features(part, [part.feature_names[index] for index in kept], part.features[:, kept])
    context = list(range(12))  # product indicators and segment flags: every tree may condition on them
    additive = str([context + [feature] for feature in range(12, len(frame.feature_names))]).replace(" ", "")
    variants: dict[str, dict] = {
        "realised labels (as shipped)": {},
        "noise-free labels (p r̄)": {"labels": "noise_free"},
        "deal-size noise removed (y r̄)": {"labels": "deal_size"},
        "+ simulator spend_30d, engagement_30d": {"features": appended(("spend_30d_usd", "engagement_30d"))},
        "simulator inputs only": {"features": simulator_only},
        f"compact warehouse features ({len(kept)})": {"features": compact},
        "max_depth 4": {"parameters": {"max_depth": 4}},
        "max_depth 2": {"parameters": {"max_depth": 2}},
        "min_child_weight 10": {"parameters": {"min_child_weight": 10.0}},
        "eta 0.02 (3x trees)": {"parameters": {"eta": 0.02}, "trees": 3},
        "lambda 20": {"parameters": {"lambda": 20.0}},
        "max_bin 256": {"parameters": {"max_bin": 256}},
        "Hessian floor 1e-2 (shipped: 1e-6)": {"hessian_floor": 1e-2},
        "per-product additive trees": {"parameters": {"interaction_constraints": additive}},
        "refit on train + validation": {"refit": True},
    }
    seeds = [int(seed) for seed in arguments.seeds.split(",")]
    results = {}
    for label, variant in variants.items():
        make = variant.get("features", same)
        parts = {name: make(name, part) for name, part in (("train", train), ("validation", validation), ("test", test))}
        fitted = parts["train"]
        if variant.get("labels") == "noise_free":
            fitted = noise_free_frame(fitted, truth["train"]["expected_revenue_usd_minor"])
        elif variant.get("labels") == "deal_size":
            fitted = replace(fitted, labels={**fitted.labels, "revenue_usd_minor": accepted * truth["train"]["deal_size_usd_minor"]})
        runs = []
        shipped_floor = objectives.HESSIAN_FLOOR
        objectives.HESSIAN_FLOOR = variant.get("hessian_floor", shipped_floor)  # read by payoff_gradient_hessian at each call
        for seed in seeds:
            booster, trees, loss = train_model_kind("payoff", fitted, parts["validation"], scale=scale, seed=seed, threads=1,
                                                    max_trees=arguments.max_trees * variant.get("trees", 1), parameters=variant.get("parameters"))
            if variant.get("refit"):  # the validation period is in-sample now: its loss keeps (nearly) every tree
                booster, _, _ = train_model_kind("payoff", concatenated(fitted, parts["validation"]), parts["validation"], scale=scale,
                                                 seed=seed, threads=1, max_trees=trees, parameters=variant.get("parameters"))
            payoff = expected_payoff_of(sigmoid(predict_margin(booster, parts["test"].features)), offer_arrays(test)[2])
            runs.append({"trees": trees, "validation_loss": loss, **oracle_ratios(workspace, test, payoff)})
        objectives.HESSIAN_FLOOR = shipped_floor
        summary = {key: float(np.mean([run[key] for run in runs])) for key in runs[0] if key != "trees"}
        results[label] = {"trees": [run["trees"] for run in runs], **summary}
        print(f"{label:<40} trees {results[label]['trees']}  val loss {summary['validation_loss']:.4f}  E[net] / oracle "
              + " ".join(f"{summary[f'expected_{budget:.2f}']:.1%}" for budget in BUDGETS)
              + "  realised " + " ".join(f"{summary[f'realised_{budget:.2f}']:.1%}" for budget in BUDGETS), flush=True)
    arguments.results.parent.mkdir(parents=True, exist_ok=True)
    figures = {"world_seed": arguments.seed, "attempts": arguments.attempts, "offer_share": arguments.offer_share,
               "offers": len(frame), "training_acceptances": int(accepted.sum()), "test_offers": len(test),
               "xgboost_seeds": len(seeds), **flat_figures(results)}
    arguments.results.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {arguments.results}")


if __name__ == "__main__":
    main()
