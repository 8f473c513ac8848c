"""Routing actions: gateway names and optimisation sets <-> integer codes.

An optimisation value is 'none' or a sorted, '+'-joined subset of OPTIMIZATIONS; its code is
its position in OPTIMIZATION_SETS.

>>> gateway_codes("gw_beta")
array(1)
>>> optimization_codes(["none", "3ds+network_token"]).tolist()
[0, 6]
>>> optimization_codes("network_token+3ds")
Traceback (most recent call last):
...
payloom_sim.errors.SimulatorError: unknown optimization 'network_token+3ds': expected 'none' or a sorted, '+'-joined subset of 3ds, iso_format, network_token, retry (e.g. '3ds+network_token')
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from payloom_sim.constants import GATEWAYS, OPTIMIZATION_SETS, OPTIMIZATIONS
from payloom_sim.errors import SimulatorError

__all__ = ["gateway_codes", "optimization_codes", "codes_for"]


def codes_for(values: Any, names: tuple[str, ...], what: str, hint: str) -> np.ndarray:
    """Integer positions of `values` (a name, a code, or an array of either) in `names`."""
    lookup = {name: position for position, name in enumerate(names)}
    if isinstance(values, str):
        if values not in lookup:
            raise SimulatorError(f"unknown {what} {values!r}: expected {hint}")
        return np.array(lookup[values])
    if isinstance(values, (int, np.integer)):
        values = np.asarray(values)
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = values.to_numpy(zero_copy_only=False)
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() >= len(names)):
            raise SimulatorError(f"{what} codes must be in [0, {len(names)}), got {array.min()}..{array.max()}")
        return array.astype(np.int64)
    encoded = pc.dictionary_encode(pa.array(array.ravel(), pa.string())) if array.size else None
    if encoded is None:
        return np.zeros(array.shape, np.int64)
    dictionary = encoded.dictionary.to_pylist()
    unknown = [value for value in dictionary if value not in lookup]
    if unknown:
        raise SimulatorError(f"unknown {what} {unknown[0]!r}: expected {hint}")
    mapping = np.array([lookup[value] for value in dictionary], dtype=np.int64)
    return mapping[encoded.indices.to_numpy(zero_copy_only=False)].reshape(array.shape)


def gateway_codes(values: Any) -> np.ndarray:
    """Gateway positions in GATEWAYS for names or codes (scalar or array)."""
    return codes_for(values, GATEWAYS, "gateway", "one of " + ", ".join(GATEWAYS))


def optimization_codes(values: Any) -> np.ndarray:
    """Optimisation-set positions in OPTIMIZATION_SETS for values or codes (scalar or array)."""
    hint = "'none' or a sorted, '+'-joined subset of " + ", ".join(OPTIMIZATIONS) + " (e.g. '3ds+network_token')"
    return codes_for(values, OPTIMIZATION_SETS, "optimization", hint)
