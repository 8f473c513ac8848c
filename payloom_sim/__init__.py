"""payloom_sim: an embedded payments world with known ground truth.

Writes the raw tables of the data contract (payment_attempts, customers, product_holdings,
offers, interactions) as Parquet, plus the latent context and true probabilities under
`_truth/`, so models can be compared with the oracle.
"""

from payloom_sim.errors import SimulatorError
from payloom_sim.schemas import RAW_SCHEMAS
from payloom_sim.simulation import SimulationSummary, simulate
from payloom_sim.truth import approval_probability, decline_code_probabilities, load_attempt_context
from payloom_sim.customers import acceptance_probability, expected_deal_size
from payloom_sim.world import World, build_world

__all__ = [
    "RAW_SCHEMAS", "SimulationSummary", "SimulatorError", "World", "acceptance_probability",
    "approval_probability", "build_world", "decline_code_probabilities", "expected_deal_size",
    "load_attempt_context", "simulate",
]
