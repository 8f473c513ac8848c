"""Judge cross-sell scorers at contact budgets: catch rate, net sales, lift and gains.

A scorer ranks the offers of a test set (higher first); a budget contacts the top share of the
test period's customers (5, 10, 20%). On the contacted offers:

- catch: accepted offers; catch rate: their share of every accepted offer in the test set;
- net sales: realised revenue - contact cost (US cents), i.e. the sum of y r - c;
- expected net sales: the same under the simulator's truth, sum of p r̄ - c (when known): the
  noise-free figure.

`random` is the expectation of contacting at random (the budget's share of every total); a
scorer's gains curve is the cumulative share of accepted offers (or of net sales) against the
share of offers contacted, and lift = gains / contacted share.

>>> import numpy as np
>>> accepted, revenue, cost = np.array([1, 0, 1, 0]), np.array([100.0, 0, 10, 0]), np.array([5.0, 5, 5, 5])
>>> table = evaluate_budgets({"model": np.array([0.9, 0.8, 0.1, 0.2])}, accepted, revenue, cost, budgets=(0.5,), customers=4)
>>> row = table.rows["model"][0.5]
>>> int(row.contacts), int(row.accepted), row.net_sales, row.catch_rate
(2, 1, 90.0, 0.5)
>>> table.rows["random"][0.5].net_sales   # half of (110 revenue - 20 cost)
45.0
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scoring.svg_charts import line_chart

__all__ = ["BudgetResult", "BudgetTable", "evaluate_budgets", "gains_curves", "write_curves_csv", "write_curves_svg", "BUDGETS"]

BUDGETS: tuple[float, ...] = (0.05, 0.10, 0.20)


@dataclass(frozen=True)
class BudgetResult:
    """What contacting the top `contacts` offers of a scorer brought."""

    contacts: float
    accepted: float
    catch_rate: float
    revenue: float
    cost: float
    expected_net_sales: float | None

    @property
    def net_sales(self) -> float:
        return self.revenue - self.cost


@dataclass
class BudgetTable:
    """rows[scorer][budget] -> BudgetResult; `format()` is the text table the main job prints."""

    rows: dict[str, dict[float, BudgetResult]]
    budgets: tuple[float, ...]
    offers: int
    customers: int
    accepted: int
    notes: list[str] = field(default_factory=list)

    def ratio(self, numerator: str, denominator: str, budget: float, *, expected: bool = False) -> float:
        """net sales of `numerator` / those of `denominator` at `budget` (expected ones if asked)."""
        top, bottom = self.rows[numerator][budget], self.rows[denominator][budget]
        if expected:
            return float(top.expected_net_sales) / float(bottom.expected_net_sales)  # type: ignore[arg-type]
        return top.net_sales / bottom.net_sales

    def format(self, *, currency_scale: float = 100.0) -> str:
        """Net sales in dollars (amounts are US cents), catch and catch rate, per scorer and budget."""
        header = f"  {'scorer':<34}" + "".join(f" {f'{budget:.0%} net $':>14} {'catch':>6} {'rate':>6}" for budget in self.budgets)
        has_expected = any(result.expected_net_sales is not None for rows in self.rows.values() for result in rows.values())
        if has_expected:
            header += "".join(f" {f'{budget:.0%} E[net] $':>14}" for budget in self.budgets)
        lines = [f"  test set: {self.offers:,} offers to {self.customers:,} customers, {self.accepted:,} accepted; "
                 "budget = share of the customers contacted", header]
        for name, results in self.rows.items():
            line = f"  {name:<34}"
            for budget in self.budgets:
                result = results[budget]
                line += f" {result.net_sales / currency_scale:>14,.0f} {result.accepted:>6.1f} {result.catch_rate:>6.1%}"
            if has_expected:
                line += "".join(
                    f" {results[budget].expected_net_sales / currency_scale:>14,.0f}" if results[budget].expected_net_sales is not None
                    else f" {'':>14}" for budget in self.budgets
                )
            lines.append(line)
        lines.extend(f"  {note}" for note in self.notes)
        return "\n".join(lines)


def _result(selection: np.ndarray, accepted: np.ndarray, revenue: np.ndarray, cost: np.ndarray, expected: np.ndarray | None) -> BudgetResult:
    total_accepted = float(accepted.sum())
    caught = float(accepted[selection].sum())
    return BudgetResult(
        contacts=float(len(selection)), accepted=caught, catch_rate=caught / total_accepted if total_accepted else 0.0,
        revenue=float((accepted * revenue)[selection].sum()), cost=float(cost[selection].sum()),
        expected_net_sales=None if expected is None else float(expected[selection].sum()),
    )


def evaluate_budgets(
    scorers: dict[str, np.ndarray],
    accepted: np.ndarray,
    revenue: np.ndarray,
    cost: np.ndarray,
    *,
    budgets: tuple[float, ...] = BUDGETS,
    customers: int | None = None,
    expected_payoff: np.ndarray | None = None,
) -> BudgetTable:
    """Each scorer's top round(budget x customers) offers (ties: earlier offer first), plus `random`.

    customers: the test period's distinct customers (default: one per offer);
    expected_payoff: the truth's p r̄ - c per offer, for the expected net sales column.
    """
    accepted = np.asarray(accepted, dtype=np.float64)
    revenue, cost = np.asarray(revenue, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    offers = len(accepted)
    customers = offers if customers is None else customers
    rows: dict[str, dict[float, BudgetResult]] = {}
    for name, scores in scorers.items():
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != accepted.shape or np.isnan(scores).any():
            raise ValueError(f"scorer {name!r} must give one number per offer ({offers}), without NaN")
        order = np.argsort(-scores, kind="stable")
        rows[name] = {budget: _result(order[: min(int(round(budget * customers)), offers)], accepted, revenue, cost, expected_payoff)
                      for budget in budgets}
    rows["random"] = {}
    for budget in budgets:
        share = min(int(round(budget * customers)), offers) / offers if offers else 0.0
        rows["random"][budget] = BudgetResult(
            contacts=share * offers, accepted=share * float(accepted.sum()), catch_rate=share,
            revenue=share * float((accepted * revenue).sum()), cost=share * float(cost.sum()),
            expected_net_sales=None if expected_payoff is None else share * float(np.sum(expected_payoff)),
        )
    return BudgetTable(rows=rows, budgets=tuple(budgets), offers=offers, customers=customers, accepted=int(accepted.sum()))


def gains_curves(scorers: dict[str, np.ndarray], accepted: np.ndarray, revenue: np.ndarray, cost: np.ndarray, *, points: int = 50) -> list[dict]:
    """Rows (scorer, contacted_share, accepted_share, lift, net_sales) at `points` shares of the offers.

    >>> rows = gains_curves({"m": np.array([2.0, 1.0])}, np.array([1, 0]), np.array([10.0, 0]), np.array([1.0, 1]), points=2)
    >>> [(row["contacted_share"], row["accepted_share"], row["lift"]) for row in rows]
    [(0.5, 1.0, 2.0), (1.0, 1.0, 1.0)]
    """
    accepted = np.asarray(accepted, dtype=np.float64)
    payoff = accepted * np.asarray(revenue, dtype=np.float64) - np.asarray(cost, dtype=np.float64)
    offers, total = len(accepted), max(float(accepted.sum()), 1e-12)
    rows = []
    for name, scores in scorers.items():
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        caught, net = np.cumsum(accepted[order]), np.cumsum(payoff[order])
        for point in range(1, points + 1):
            contacts = max(int(round(point / points * offers)), 1)
            share = contacts / offers
            rows.append({"scorer": name, "contacted_share": share, "accepted_share": float(caught[contacts - 1] / total),
                         "lift": float(caught[contacts - 1] / total / share), "net_sales_usd_minor": float(net[contacts - 1])})
    return rows


def write_curves_csv(rows: list[dict], path: Path) -> Path:
    """The gains / lift rows as CSV (no plotting dependency: chart it with any tool)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["scorer", "contacted_share", "accepted_share", "lift", "net_sales_usd_minor"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_curves_svg(rows: list[dict], directory: Path) -> dict[str, Path]:
    """Three SVG charts of the gains / lift rows in `directory`: gains (share of accepted offers
    caught), lift, and cumulative net sales, each against the share of offers contacted."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    scorers = list(dict.fromkeys(row["scorer"] for row in rows))
    charts = {"gains": ("accepted_share", "share of accepted offers caught", 1.0, "{:.2f}"),
              "lift": ("lift", "lift (gains / contacted share)", 1.0, "{:.2f}"),
              "net_sales": ("net_sales_usd_minor", "net sales (US dollars)", 0.01, "{:,.0f}")}
    paths = {}
    for chart, (column, label, scale, tick_format) in charts.items():
        series = {scorer: ([row["contacted_share"] for row in rows if row["scorer"] == scorer],
                           [row[column] * scale for row in rows if row["scorer"] == scorer]) for scorer in scorers}
        path = directory / f"{chart}.svg"
        path.write_text(line_chart(series, x_label="share of test offers contacted", y_label=label, y_tick_format=tick_format,
                                   x_tick_format="{:.0%}", x_ticks=[0.1, 0.2, 0.4, 0.6, 0.8, 1.0]))
        paths[chart] = path
    return paths
