"""Ground truth: the exact probabilities the simulator draws its outcomes from, and their loaders.

- `approval_probability(context, gateway, optimization)`: P(approve) for any action, vectorised
  over attempts (gateway / optimization: a name or code for all, or one per attempt).
- `decline_code_probabilities(...)`: P(declined with each code), first failing check.
- `acceptance_probability(customer_features, product)` and `expected_deal_size(...)` (USD).
- `load_attempt_context(out_dir, attempt_ids=None)`: the latent context of written attempts
  (`<out>/_truth/attempt_context`), rebuilt into everything the functions above need, plus
  the logged action and its `p_approve`.

The attempt and offer generators call these same functions, so truth and data cannot drift.

>>> import tempfile
>>> from payloom_sim.simulation import simulate
>>> scratch = tempfile.TemporaryDirectory()
>>> out = simulate(scratch.name, attempts=2_000, days=5, seed=3).out_dir
>>> context = load_attempt_context(out)
>>> p = approval_probability(context, context["gateway"], context["optimization"])
>>> bool(np.allclose(p, context["p_approve"]))
True
>>> best = np.max([approval_probability(context, g, "none") for g in GATEWAYS], axis=0)
>>> bool((best >= approval_probability(context, "gw_alpha", "none")).all())
True
>>> some = load_attempt_context(out, attempt_ids=context["attempt_id"][:3])
>>> some["attempt_id"].tolist() == context["attempt_id"][:3].tolist()
True
>>> scratch.cleanup()
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from payloom_sim.approval import CONTEXT_FIELDS, approval_probability, decline_code_probabilities, stage_probabilities
from payloom_sim.constants import CARD_TYPES, COUNTRIES, GATEWAYS, MCC_CODES, NETWORKS, OPTIMIZATION_SETS, PRODUCT_NAMES, TRANSACTION_TYPES
from payloom_sim.context import build_context
from payloom_sim.crosssell import CUSTOMER_FEATURES, acceptance_probability, expected_deal_size
from payloom_sim.errors import SimulatorError
from payloom_sim.schemas import TRUTH_SCHEMAS
from payloom_sim.world import World, build_world

__all__ = [
    "approval_probability", "decline_code_probabilities", "stage_probabilities", "acceptance_probability",
    "expected_deal_size", "load_attempt_context", "load_world", "load_manifest", "load_offer_candidates",
    "CONTEXT_FIELDS", "CUSTOMER_FEATURES",
]

#: Categorical columns of _truth/attempt_context -> (fact name, vocabulary) for the codes.
_CATEGORICALS = {
    "card_network": ("network", NETWORKS), "issuer_country": ("issuer_country", COUNTRIES),
    "card_type": ("card_type", CARD_TYPES), "transaction_type": ("transaction_type", TRANSACTION_TYPES),
    "merchant_category": ("mcc", MCC_CODES), "gateway": ("gateway_code", GATEWAYS),
    "optimization": ("optimization_code", OPTIMIZATION_SETS),
}


def load_manifest(out_dir: Path | str) -> dict:
    """`<out>/_manifest.json` of a simulation."""
    path = Path(out_dir) / "_manifest.json"
    if not path.is_file():
        raise SimulatorError(f"{path} not found: pass the folder a simulation wrote (payloom-sim --out ...)")
    return json.loads(path.read_text())


def load_world(out_dir: Path | str) -> World:
    """The world of a simulation, rebuilt from its manifest (seed, days)."""
    manifest = load_manifest(out_dir)
    return build_world(seed=int(manifest["seed"]), days=int(manifest["days"]))


def _truth_folder(out_dir: Path | str, name: str) -> Path:
    folder = Path(out_dir) / "_truth" / name
    if not folder.is_dir():
        raise SimulatorError(f"{folder} not found: the simulation ran without ground truth; run it again without --no-truth")
    return folder


def _codes(column: pa.ChunkedArray, vocabulary: tuple[str, ...] | list[str]) -> np.ndarray:
    """Positions in `vocabulary` of a dictionary-encoded column's values."""
    lookup = {value: position for position, value in enumerate(vocabulary)}
    parts = []
    for chunk in column.chunks:
        mapping = np.array([lookup[value] for value in chunk.dictionary.to_pylist()] or [0], dtype=np.int64)
        parts.append(mapping[chunk.indices.to_numpy(zero_copy_only=False)])
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def load_attempt_context(out_dir: Path | str, attempt_ids: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The latent context of written attempts, one entry per attempt (keyed by `attempt_id`).

    Returns numpy arrays: every column of `_truth/attempt_context` (attempt_id, the logged
    `gateway` and `optimization` names, `p_approve`, amounts, flags, ...), every
    CONTEXT_FIELDS entry (ready for approval_probability / decline_code_probabilities), and
    integer codes `<name>_code` of issuer, network, issuer_country, card_type,
    transaction_type, mcc, gateway and optimization (positions in the world / vocabularies).
    `attempt_ids` restricts (and orders as stored) the attempts read.
    """
    folder = _truth_folder(out_dir, "attempt_context")
    dictionary_columns = [f.name for f in TRUTH_SCHEMAS["attempt_context"] if pa.types.is_dictionary(f.type)]
    filters = None
    if attempt_ids is not None:
        wanted = [str(value) for value in attempt_ids]
        filters = [("attempt_id", "in", wanted)] if wanted else [("attempt_id", "in", [""])]
    table = pq.read_table(folder, read_dictionary=dictionary_columns, filters=filters)
    world = load_world(out_dir)
    facts: dict[str, np.ndarray] = {}
    for name in table.column_names:
        if name in _CATEGORICALS:
            fact, vocabulary = _CATEGORICALS[name]
            facts[fact] = _codes(table[name], vocabulary)
        elif name == "issuer_id":
            facts["issuer"] = _codes(table[name], world.issuer_ids.tolist())
        else:
            facts[name] = table[name].to_numpy()
    result = {name: table[name].to_numpy() if name not in dictionary_columns
              else table[name].cast(pa.string()).to_numpy(zero_copy_only=False) for name in table.column_names}
    result.update(build_context(world, facts))
    for fact in ("issuer", "network", "issuer_country", "card_type", "transaction_type", "mcc"):
        result[f"{fact}_code"] = facts[fact]
    result["gateway_code"], result["optimization_code"] = facts["gateway_code"], facts["optimization_code"]
    return result


def load_offer_candidates(out_dir: Path | str) -> pa.Table:
    """`_truth/offer_candidates`: every (customer, product not held at the end) with p_accept,
    expected revenue, contact cost and expected payoff p * r - c."""
    return pq.read_table(_truth_folder(out_dir, "offer_candidates"))


def product_names() -> tuple[str, ...]:
    """The products of the world (same as the dbt `products` seed)."""
    return PRODUCT_NAMES
