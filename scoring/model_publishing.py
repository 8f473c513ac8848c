"""Publish a trained XGBoost booster as a new, immutable version in the model registry.

Everything cheap is checked before anything is written: the model name, the feature names and
types and the class names against payloom's identifier rules (`udfs.identifiers`), the feature
count, the objective, the decision policy. The version is assembled in a hidden folder beside
the others (`scoring.interrupted_publishes` names it, and removes the folders of publishes that
were killed) and renamed into place in one step, so a crash leaves no half-written version. The
manifest is sealed (`udfs.manifest_seal`: its sha256, and an HMAC when PAYLOOM_MODEL_SIGNING_KEY
is set); promotion (`ModelRegistry.promote`) is a separate atomic step that checks the new
version loads first and records the manifest's sha256 in CURRENT.

>>> import numpy as np, xgboost, tempfile
>>> rows = np.arange(20, dtype=float).reshape(-1, 2)
>>> booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(rows, label=rows[:, 0] > 9), 3)
>>> artifact = publish_model(tempfile.mkdtemp(), "toy", booster, [("a", "double"), ("b", "double")])
>>> artifact.manifest.version, artifact.manifest.function_name, artifact.manifest.output["kind"]
('v0001', 'score_toy', 'probability')
>>> publish_model(tempfile.mkdtemp(), "../../x", booster, [("a", "double"), ("b", "double")])
Traceback (most recent call last):
...
udfs.errors.InvalidNameError: model name '../../x' is not allowed: expected lower_snake_case matching ^[a-z][a-z0-9_]{0,62}$ (it becomes a registry folder and SQL function score_<name>); rename the model
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from scoring.errors import ModelTrainingError
from scoring.forest_compiler import compile_forest
from scoring.interrupted_publishes import building_prefix, remove_interrupted_publishes
from udfs.errors import ModelArtifactError
from udfs.identifiers import check_class_names, check_features, check_model_name
from udfs.manifest_seal import seal_manifest, signing_key_from_environment
from udfs.model_artifact import MANIFEST_FILE, ModelArtifact, ModelManifest, sha256_of
from udfs.model_registry import ModelRegistry

__all__ = ["publish_model", "output_kind_of"]

_RECORDED_PACKAGES = ("xgboost-cpu", "treelite", "tl2cgen", "duckdb", "numpy", "pyarrow")


def output_kind_of(objective: str) -> str:
    """probability (binary:logistic), class_probabilities (multi:softprob) or value (regression).

    >>> output_kind_of("multi:softprob"), output_kind_of("reg:squarederror")
    ('class_probabilities', 'value')
    """
    if objective == "binary:logistic":
        return "probability"
    if objective in ("multi:softprob", "multi:softmax"):
        if objective == "multi:softmax":
            raise ModelTrainingError("multi:softmax returns class ids, not probabilities; train with multi:softprob")
        return "class_probabilities"
    if objective.startswith("reg:") or objective.startswith("count:"):
        return "value"
    raise ModelTrainingError(f"objective {objective!r} is not supported; use binary:logistic, multi:softprob, reg:* or count:poisson")


def publish_model(
    registry: ModelRegistry | Path | str,
    name: str,
    booster,
    features: Sequence[tuple[str, str]],
    *,
    classes: Sequence[str] | None = None,
    metrics: dict[str, float] | None = None,
    training_data: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    backend: str = "payloom",
    promote: bool = True,
    decision_policy: dict[str, Any] | None = None,
    objective: str | None = None,
    output_transform: str | None = None,
) -> ModelArtifact:
    """Compile `booster` and publish it as the next version of `name`; promote it unless told not to.

    name:          the model's name, lower_snake_case (`udfs.identifiers`): a registry folder and `score_<name>`.
    features:      (name, SQL type) in the order the booster was trained on; names of letters,
                   digits and underscores, distinct ignoring case.
    classes:       class names in output order (multiclass) or [negative, positive] (binary),
                   named like features.
    training_data: what the model was trained on (rows, time range, fingerprint).
    decision_policy: a policy over the model's score that SQL can call (udfs.decline_actions);
                   checked here by writing its macro, so a bad policy fails at publish time.
    objective:     the name to record for a booster trained with a custom objective (`obj=`),
                   e.g. "custom:expected_payoff"; XGBoost itself only knows its default objective.
    output_transform: "sigmoid" for a custom-objective booster whose raw margin is a logit: the
                   compiled model then returns sigmoid(base_score + sum of trees), the same p as
                   Python's sigmoid(booster.predict(..., output_margin=True)). Recorded in the
                   manifest's output with the margin-space base score.
    """
    import treelite

    check_model_name(name)
    features = check_features(features)
    if classes is not None:
        classes = check_class_names(classes)
    if decision_policy is not None:
        from udfs.decline_actions import decline_action_macro

        decline_action_macro(name, decision_policy)

    registry = registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)
    if booster.num_features() != len(features):
        raise ModelTrainingError(f"the booster was trained on {booster.num_features()} features, {len(features)} were named")
    learner = json.loads(booster.save_config())["learner"]
    booster_objective = learner["objective"]["name"]
    model = treelite.frontend.from_xgboost(booster)
    if output_transform is None:
        kind = output_kind_of(booster_objective)
    else:
        kind = _apply_output_transform(model, booster_objective, output_transform)
    if kind == "class_probabilities" and classes is not None and len(classes) != int(learner["learner_model_param"]["num_class"]):
        raise ModelTrainingError(f"the booster has {learner['learner_model_param']['num_class']} classes, {len(classes)} were named")
    objective = objective or booster_objective
    signing_key = signing_key_from_environment()
    remove_interrupted_publishes(registry)
    version = registry.next_version(name)
    final = registry.version_dir(name, version)
    versions_dir = final.parent
    if not versions_dir.resolve().is_relative_to(registry.root.resolve()):
        raise ModelArtifactError(
            f"{versions_dir} resolves to {versions_dir.resolve()}, outside the registry {registry.root} (a symbolic link leads out); "
            "remove the link, then publish again"
        )
    versions_dir.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=building_prefix(version), dir=versions_dir))
    try:
        model.serialize(str(building / "model.tl"))
        compiled = compile_forest(model, building, backend=backend)
        files = {path.relative_to(building).as_posix(): sha256_of(path) for path in sorted(building.rglob("*")) if path.is_file()}
        output: dict[str, Any] = {"kind": kind}
        if output_transform is not None:
            output["transform"] = output_transform
            output["base_score_margin"] = float(model.get_header_accessor().get_field("base_scores")[0])
        if classes is not None:
            output["classes"] = list(classes)
        elif kind == "class_probabilities":
            output["classes"] = [f"class_{index}" for index in range(int(learner["learner_model_param"]["num_class"]))]
        manifest = ModelManifest(
            name=name,
            version=version,
            features=[{"name": feature, "type": data_type} for feature, data_type in features],
            output=output,
            files=files,
            details={
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "objective": objective,
                "num_trees": compiled.num_trees,
                "depth": compiled.depth,
                "metrics": metrics or {},
                "training_data": training_data or {},
                "parameters": parameters or {},
                **({"decision_policy": decision_policy} if decision_policy is not None else {}),
                "compilation": {
                    "backend": backend,
                    "command": compiled.compiler_command,
                    "compiler": _compiler_version(compiled.compiler_command[0]),
                    "seconds": round(compiled.compile_seconds, 3),
                    "library_bytes": compiled.library_bytes,
                    "machine": platform.machine(),
                },
                "packages": {package: _version_of(package) for package in _RECORDED_PACKAGES},
            },
        )
        data = (json.dumps(manifest.to_dict(), indent=2) + "\n").encode()
        (building / MANIFEST_FILE).write_bytes(data)
        seal_manifest(building, data, signing_key=signing_key)
        building.rename(final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if promote:
        registry.promote(name, version)
    return registry.load(name, version)


def _apply_output_transform(model, booster_objective: str, output_transform: str) -> str:
    """Make the Treelite model apply `output_transform` to its margin; returns the output kind."""
    if output_transform != "sigmoid":
        raise ModelTrainingError(f"output transform {output_transform!r} is not supported; use 'sigmoid' (or None for built-in objectives)")
    if booster_objective != "reg:squarederror":
        raise ModelTrainingError(
            f"an output transform is for boosters trained with a custom objective (raw margins, XGBoost's default "
            f"reg:squarederror); this one has {booster_objective!r}, which already transforms its output: publish it without one"
        )
    header = model.get_header_accessor()
    if str(header.get_field("postprocessor")) != "identity":
        raise ModelTrainingError(f"the Treelite model already applies {header.get_field('postprocessor')!r}; expected raw margins")
    header.set_field("postprocessor", "sigmoid")
    return "probability"


def _version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _compiler_version(compiler: str) -> str:
    try:
        return subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "unknown"
