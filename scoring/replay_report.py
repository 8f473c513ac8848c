"""The closed-loop replay's report: the policy x day table, totals, the quality targets, a chart.

Every comparison uses the expected approval (mean true P(approve) of the chosen actions), not
the observed rate, so it is free of outcome noise. Measured against the issue's targets:

- routing: IPW routing's lift over static as a share of the routing oracle's lift (the best
  gateway for the optimisation static drew; the full oracle's lift is shown too); target >= 0.9;
- bandit vs static per retraining period (the days a model version ran): target: ahead from
  version 2 (the second retraining) on;
- recovery: for each drift episode, the first retraining after its onset whose period gives the
  bandit (and IPW routing) back at least RECOVERY_SHARE of its lift over static before the
  onset (from version 2 on); target: within 2 retrainings;
- OPE: each retraining's SNIPS interval covers the next policy's true value on the held-out
  logged payments and, reported alongside, its on-policy value in the following period.

>>> from scoring.closed_loop import run_closed_loop
>>> result = run_closed_loop(days=2, payments_per_day=300, seed=1, warmup_days=2, retrain_every=1, drift=(), num_boost_round=5)
>>> summary = summarise_replay(result)
>>> sorted(summary.totals) == sorted(result.daily["policy"].unique()), "approval rate per day" in summary.format()
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.closed_loop import POLICIES, ClosedLoopResult
from scoring.replay_ope import OpeCheck
from scoring.svg_charts import Band, line_chart

__all__ = ["ReplaySummary", "summarise_replay", "write_replay_outputs", "run_closed_loop_summary", "RECOVERY_SHARE", "svg_chart"]

RECOVERY_SHARE = 0.5
_BARS = "▁▂▃▄▅▆▇█"
_COLOURS = {"static": "#7f7f7f", "ipw_routing": "#1f77b4", "bandit": "#d62728", "oracle": "#2ca02c", "routing_oracle": "#9edae5"}


@dataclass
class ReplaySummary:
    """Tables and measured quality targets of one replay; `format()` renders them for people."""

    daily: pd.DataFrame                       # long: policy, day, version, payments, expected_approval, approval_rate, policy_value
    totals: dict[str, dict[str, float]]
    periods: pd.DataFrame                     # version, first_day, last_day, one column per policy, bandit_minus_static
    recovery: dict[str, list[int | None]]     # policy -> retrainings to recover, per drift episode
    ope: list[OpeCheck]
    targets: dict[str, tuple[str, bool]] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def wide(self, column: str = "expected_approval") -> pd.DataFrame:
        """Policy x day table of `column`."""
        return self.daily.pivot(index="policy", columns="day", values=column).reindex([p for p in POLICIES if p in self.totals])

    def format(self) -> str:
        wide = self.wide()
        low, high = float(wide.values.min()), float(wide.values.max())
        lines = [f"closed-loop replay: {self.settings.get('days')} days x ~{self.settings.get('payments_per_day')} payments, "
                 f"seed {self.settings.get('seed')}, retrained every {self.settings.get('retrain_every')} days, drift {self.settings.get('drift')}, "
                 f"gateway spread {self.settings.get('gateway_spread', 1.0)}, gateway health: bandit {_health(self.settings.get('health'))}, "
                 f"IPW routing {_health(self.settings.get('routing_health'))}",
                 "expected approval rate per day (true P(approve) of the chosen actions; sparkline from "
                 f"{low:.3f} to {high:.3f}):",
                 f"  {'policy':<15} {'total':>7} {'observed':>9} {'lift share':>10}  per day"]
        for policy, row in wide.iterrows():
            total = self.totals[policy]
            spark = "".join(_BARS[min(int((v - low) / max(high - low, 1e-9) * len(_BARS)), len(_BARS) - 1)] for v in row.values)
            lines.append(f"  {policy:<15} {total['expected_approval']:>7.4f} {total['approval_rate']:>9.4f} "
                         f"{total['lift_share']:>10.2f}  {spark}")
        lines.append("  (lift share: (policy - static) / (oracle - static); IPW routing against the routing oracle: "
                     f"{self.totals['ipw_routing']['routing_lift_share']:.2f})")
        lines.append("bandit - static per model version: " + ", ".join(
            f"v{int(r.version)} {r.bandit_minus_static:+.4f}" for r in self.periods.itertuples()))
        lines.append("retrainings to recover after each degradation: " + ", ".join(f"{p} {v}" for p, v in self.recovery.items()))
        for check in self.ope:
            value, low_ci, high_ci = check.estimates["snips"]
            ips, ips_low, ips_high = check.estimates["ips"]
            lines.append(f"OPE v{check.retraining} (day {check.day}, {check.rows} held-out rows): SNIPS {value:.4f} [{low_ci:.4f}, {high_ci:.4f}], "
                         f"IPS {ips:.4f} [{ips_low:.4f}, {ips_high:.4f}]"
                         f"  truth on those payments {check.truth_logged_contexts:.4f}, next period on-policy "
                         + (f"{check.truth_next_period:.4f}" if check.truth_next_period is not None else "n/a"))
        if "outputs" in self.settings:
            lines.append("written: " + ", ".join(self.settings["outputs"].values()))
        lines.append("quality targets:")
        lines.extend(f"  [{'met' if met else 'NOT met'}] {name}: {text}" for name, (text, met) in self.targets.items())
        return "\n".join(lines)


def _mean(frame: pd.DataFrame, column: str = "expected_approval") -> float:
    return float((frame[column] * frame["payments"]).sum() / frame["payments"].sum())


def _health(settings: dict | None) -> str:
    """The health settings in a few words (`scoring.action_health`)."""
    if not settings:
        return "off"
    return (f"on (last {settings['window']:,} judged decisions, k {settings['k']:g}, r in [{settings['low']:g}, {settings['high']:g}], "
            f"refreshed every {settings['block']} payments)")


def _recovery(periods: pd.DataFrame, policy: str, onset: int, retrain_every: int) -> int | None:
    lift = periods[policy] - periods["static"]
    onset_version = onset // retrain_every
    before = lift[(periods.version >= 2) & (periods.version < onset_version)]
    before = before if len(before) else lift[periods.version < onset_version]
    if not len(before):
        return None
    for row in periods[periods.version > onset_version].itertuples():
        if lift[row.Index] > 0 and lift[row.Index] >= RECOVERY_SHARE * float(before.mean()):
            return int(row.version - onset_version)
    return None


def summarise_replay(result: ClosedLoopResult) -> ReplaySummary:
    """Totals, per-period comparison, recovery and the targets of a replay."""
    daily = result.daily
    by_policy = {policy: frame for policy, frame in daily.groupby("policy")}
    static, oracle = _mean(by_policy["static"]), _mean(by_policy["oracle"])
    routing_oracle = _mean(by_policy["routing_oracle"])
    totals = {}
    for policy, frame in by_policy.items():
        value = _mean(frame)
        totals[policy] = {"expected_approval": value, "approval_rate": _mean(frame, "approval_rate"),
                          "lift_share": (value - static) / (oracle - static), "routing_lift_share": (value - static) / (routing_oracle - static)}
    periods = []
    for version, frame in daily.groupby("version"):
        row = {"version": version, "first_day": int(frame.day.min()), "last_day": int(frame.day.max())}
        row.update({policy: _mean(part) for policy, part in frame.groupby("policy")})
        periods.append(row)
    periods = pd.DataFrame(periods)
    periods["bandit_minus_static"] = periods["bandit"] - periods["static"]
    every = result.settings["retrain_every"]
    recovery = {policy: [_recovery(periods, policy, episode["first_day"], every) for episode in result.settings["drift"]]
                for policy in ("bandit", "ipw_routing")}
    summary = ReplaySummary(daily, totals, periods, recovery, result.ope, settings=result.settings)
    share = totals["ipw_routing"]["routing_lift_share"]
    summary.targets["routing lift share >= 0.9"] = (f"IPW routing {share:.2f} of the routing oracle's lift "
                                                    f"({totals['ipw_routing']['lift_share']:.2f} of the full oracle's)", share >= 0.9)
    later = periods[periods.version >= 2]
    summary.targets["bandit beats static from the 2nd retraining"] = (
        f"{int((later.bandit_minus_static > 0).sum())} of {len(later)} periods ahead, smallest margin "
        f"{later.bandit_minus_static.min():+.4f}" if len(later) else "no period after the 2nd retraining",
        bool(len(later)) and bool((later.bandit_minus_static > 0).all()))
    bandit_recovery = recovery["bandit"]
    summary.targets["bandit recovers within 2 retrainings"] = (
        f"retrainings needed per degradation: {bandit_recovery}", bool(bandit_recovery) and all(r is not None and r <= 2 for r in bandit_recovery))
    covered = [check.covers("snips", check.truth_logged_contexts) for check in result.ope]
    following = [check.covers("snips", check.truth_next_period) for check in result.ope if check.truth_next_period is not None]
    ips_covered = [check.covers("ips", check.truth_logged_contexts) for check in result.ope]
    summary.targets["OPE intervals cover the truth"] = (
        f"SNIPS 95% CI covers the held-out truth {sum(covered)}/{len(covered)}, the next period's on-policy value "
        f"{sum(following)}/{len(following)} (IPS: the held-out truth {sum(ips_covered)}/{len(ips_covered)})",
        bool(covered) and np.mean(covered) >= 0.8)
    return summary


def svg_chart(summary: ReplaySummary, *, width: int = 760, height: int = 360) -> str:
    """A line chart (SVG) of expected approval per day and policy, drift days shaded."""
    wide = summary.wide()
    days = [float(day) for day in wide.columns]
    bands = [Band(episode["first_day"] - 0.5, episode["first_day"] + episode["length"] - 0.5, f"{episode['gateway']} degraded")
             for episode in summary.settings.get("drift", [])]
    series = {str(policy): (days, [float(value) for value in row.values]) for policy, row in wide.iterrows()}
    return line_chart(series, x_label="replay day", y_label="expected approval rate", colours=_COLOURS, bands=bands,
                      x_ticks=days, width=width, height=height)


def write_replay_outputs(summary: ReplaySummary, out_dir: Path | str) -> dict[str, Path]:
    """Write replay_daily.csv / .parquet (long), replay_table.csv (policy x day), replay_periods.csv,
    replay_ope.csv and replay_chart.svg into `out_dir`; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"daily_csv": out / "replay_daily.csv", "daily_parquet": out / "replay_daily.parquet", "table": out / "replay_table.csv",
             "periods": out / "replay_periods.csv", "ope": out / "replay_ope.csv", "chart": out / "replay_chart.svg"}
    summary.daily.to_csv(paths["daily_csv"], index=False)
    summary.daily.to_parquet(paths["daily_parquet"], index=False)
    table = summary.wide()
    table["total"] = [summary.totals[p]["expected_approval"] for p in table.index]
    table["lift_share"] = [summary.totals[p]["lift_share"] for p in table.index]
    table.to_csv(paths["table"])
    summary.periods.to_csv(paths["periods"], index=False)
    pd.DataFrame([{"retraining": c.retraining, "day": c.day, "rows": c.rows, "truth_held_out": c.truth_logged_contexts,
                   "truth_next_period": c.truth_next_period,
                   **{f"{e}_{k}": v for e, values in c.estimates.items() for k, v in zip(("value", "ci_low", "ci_high"), values)}}
                  for c in summary.ope]).to_csv(paths["ope"], index=False)
    paths["chart"].write_text(svg_chart(summary))
    return paths


def run_closed_loop_summary(*, days: int = 14, payments_per_day: int = 1_000, seed: int = 7, retrain_every: int = 2,
                            out_dir: Path | str | None = None, **options) -> ReplaySummary:
    """Run a closed-loop replay (`scoring.closed_loop.run_closed_loop`), summarise it and, with
    `out_dir`, write the table, the chart and the OPE checks there. The main job's short replay."""
    from scoring.closed_loop import run_closed_loop

    result = run_closed_loop(days=days, payments_per_day=payments_per_day, seed=seed, retrain_every=retrain_every, **options)
    summary = summarise_replay(result)
    summary.settings["seconds"] = round(result.seconds["total"], 1)
    if out_dir is not None:
        summary.settings["outputs"] = {name: str(path) for name, path in write_replay_outputs(summary, out_dir).items()}
    return summary
