"""A tiny published model, copied per test, and the tools the trust tests tamper with it by."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import xgboost

from scoring.model_publishing import publish_model
from udfs.manifest_seal import MANIFEST_FILE, MANIFEST_SEAL_FILE

FEATURES = [("amount", "double"), ("attempts_30d", "bigint"), ("decline_ratio_90d", "double")]
POLICY = {
    "kind": "decline_action", "type_model": "decline_type",
    "thresholds": {"stand_in_approval": 0.03, "step_up_authentication": 0.3, "offer_other_instrument": 0.4},
    "outage_ratio": 0.6, "trusted_min_attempts": 10, "trusted_max_decline_ratio": 0.1,
}

MARKER_LIBRARY = r"""
#include <stdio.h>
#include <stdint.h>
__attribute__((constructor)) static void mark_loaded(void) {
  FILE* handle = fopen(MARKER, "w");
  if (handle) { fputs("native code ran", handle); fclose(handle); }
}
int32_t payloom_forest_abi_version(void) { return 1; }
int32_t payloom_forest_num_features(void) { return 3; }
int32_t payloom_forest_num_outputs(void) { return 1; }
int32_t payloom_forest_predict(void) { return 0; }
"""


def small_booster(feature_count: int = 3) -> xgboost.Booster:
    rng = np.random.default_rng(7)
    rows = np.round(rng.normal(size=(400, feature_count)), 1)
    labels = (rows[:, 0] + rows[:, 1] > 0).astype(int)
    return xgboost.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgboost.DMatrix(rows, label=labels), 5)


def publish_pristine(root: Path) -> Path:
    """A registry with model `decline`: v0001 (not promoted) and v0002 (promoted), with a policy."""
    booster = small_booster()
    publish_model(root, "decline", booster, FEATURES, decision_policy=POLICY, promote=False)
    publish_model(root, "decline", booster, FEATURES, decision_policy=POLICY)
    return root


def copy_registry(pristine: Path, target: Path) -> Path:
    shutil.copytree(pristine, target, symlinks=True)
    return target


def edit_manifest(version_dir: Path, change, *, reseal: bool = False) -> bytes:
    """Apply `change(manifest_dict)` to the manifest; with `reseal`, rewrite manifest.sha256 to match."""
    path = version_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    change(manifest)
    data = (json.dumps(manifest, indent=2) + "\n").encode()
    path.write_bytes(data)
    if reseal:
        reseal_manifest(version_dir)
    return data


def reseal_manifest(version_dir: Path) -> str:
    """What an attacker who can write two files does: recompute the sidecar seal."""
    digest = hashlib.sha256((version_dir / MANIFEST_FILE).read_bytes()).hexdigest()
    (version_dir / MANIFEST_SEAL_FILE).write_text(f"{digest}  {MANIFEST_FILE}\n")
    return digest


def marker_library(folder: Path, marker: Path) -> Path:
    """A library that writes `marker` the moment it is loaded (its constructor runs in dlopen)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "marker.c"
    source.write_text(MARKER_LIBRARY)
    library = folder / "model.so"
    subprocess.run(["gcc", "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", str(library), str(source)], check=True)
    return library


def load_marker_library_elsewhere(library: Path) -> None:
    """Proof that the marker library marks when loaded (so a missing marker means it was never
    loaded): load it in a separate interpreter."""
    subprocess.run([sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])", str(library)], check=True)
