"""dbt calls compiled models: the plugin registers them, the `score` macro writes the call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost

from scoring.workspace import DBT_PROJECT_DIR, Workspace


@pytest.mark.dbt
def test_dbt_show_scores_with_the_score_macro(tmp_path, registry_root, binary_model):
    workspace = Workspace.at(tmp_path)
    environment = {**workspace.dbt_environment(), "PAYLOOM_MODEL_REGISTRY": str(registry_root)}
    values = [0.3, -1.2, None, 0.0, 2.5, -0.1, None, 1.0]
    columns = ", ".join(f"{'null' if value is None else value}::double as feature_{index}" for index, value in enumerate(values))
    inline = f"select {{{{ score('binary_toy', 'features') }}}} as decline_probability from (select {columns}) as features"
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "show", "--inline", inline, "--output", "json", "--log-format", "json", "--quiet"],
        cwd=DBT_PROJECT_DIR, env=environment, capture_output=True, text=True,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    events = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    preview = next(event["data"]["preview"] for event in events if "preview" in event.get("data", {}))
    score = json.loads(preview)[0]["decline_probability"]
    row = np.array([[np.nan if value is None else value for value in values]])
    expected = binary_model.booster.predict(xgboost.DMatrix(row, missing=np.nan))[0]
    assert abs(score - expected) <= 1e-6
