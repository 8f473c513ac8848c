"""payloom_sim: an embedded payments world with known ground truth.

Writes the raw tables of the data contract (payment_attempts, customers, product_holdings,
offers, interactions) as Parquet, plus the latent context and the true probabilities under
`_truth/`, so that models can be compared with the oracle. See payloom_sim/README.md.

>>> import tempfile
>>> scratch = tempfile.TemporaryDirectory()
>>> summary = simulate(scratch.name, attempts=1_000, days=3, seed=7)
>>> sorted(summary.rows) == sorted(RAW_SCHEMAS)
True
>>> scratch.cleanup()
"""

from payloom_sim.constants import CURRENCIES, GATEWAYS, OPTIMIZATION_SETS, OPTIMIZATIONS, PRODUCT_NAMES
from payloom_sim.errors import SimulatorError
from payloom_sim.schemas import RAW_SCHEMAS, TRUTH_SCHEMAS
from payloom_sim.simulation import SIMULATOR_VERSION, SimulationSummary, simulate
from payloom_sim.truth import (
    acceptance_probability, approval_probability, decline_code_probabilities, expected_deal_size,
    load_attempt_context, load_manifest, load_offer_candidates, load_world,
)
from payloom_sim.world import World, build_world

__all__ = [
    "CURRENCIES", "GATEWAYS", "OPTIMIZATIONS", "OPTIMIZATION_SETS", "PRODUCT_NAMES", "RAW_SCHEMAS", "TRUTH_SCHEMAS",
    "SIMULATOR_VERSION", "SimulationSummary", "SimulatorError", "World", "acceptance_probability",
    "approval_probability", "build_world", "decline_code_probabilities", "expected_deal_size", "load_attempt_context",
    "load_manifest", "load_offer_candidates", "load_world", "simulate",
]
