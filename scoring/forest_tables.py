"""Turn a Treelite model into the flat tables the payloom forest kernel evaluates.

Every tree is padded to a complete binary tree of the ensemble's depth: a leaf above the
bottom level is copied to every bottom slot below it, and the missing split above it becomes
a dummy test that always goes left. Node i's children are 2i+1 (left) and 2i+2 (right), so the
kernel computes the next node instead of branching to it.

>>> import numpy as np, xgboost, treelite
>>> features = np.array([[0.0], [1.0], [2.0], [3.0]])
>>> booster = xgboost.train({"max_depth": 1, "base_score": 0.5}, xgboost.DMatrix(features, label=[0, 0, 1, 1]), 1)
>>> tables = forest_tables(treelite.frontend.from_xgboost(booster))
>>> tables.depth, tables.num_trees, tables.num_outputs, tables.postprocessor
(1, 1, 1, 'identity')
>>> tables.split_threshold[0][0]
2.0
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from scoring.errors import ModelTrainingError

__all__ = ["ForestTables", "forest_tables", "MAX_DEPTH", "SUPPORTED_POSTPROCESSORS"]

MAX_DEPTH = 12
"""Deeper trees would pad to more than 4,095 nodes each; train shallower trees instead."""

SUPPORTED_POSTPROCESSORS = ("identity", "sigmoid", "softmax", "exponential")


@dataclass(frozen=True)
class ForestTables:
    """The ensemble as complete trees: per tree, split_feature / split_threshold / default_right
    (2^depth - 1 internal slots) and leaf_value (2^depth slots), plus which output each tree adds to."""

    num_features: int
    num_outputs: int
    depth: int
    split_feature: list[list[int]]
    split_threshold: list[list[float]]
    default_right: list[list[int]]
    leaf_value: list[list[float]]
    tree_output: list[int]
    base_scores: list[float]
    postprocessor: str
    sigmoid_alpha: float

    @property
    def num_trees(self) -> int:
        return len(self.tree_output)


def forest_tables(model) -> ForestTables:
    """Flatten a `treelite.Model` (numerical `<` splits, scalar leaves, as XGBoost's gbtree makes)."""
    dump = json.loads(model.dump_as_json())
    postprocessor = dump["postprocessor"]
    if postprocessor not in SUPPORTED_POSTPROCESSORS:
        raise ModelTrainingError(
            f"postprocessor {postprocessor!r} is not supported by the payloom kernel; "
            f"supported: {', '.join(SUPPORTED_POSTPROCESSORS)}. Use an XGBoost objective such as "
            "binary:logistic, multi:softprob, reg:squarederror or count:poisson."
        )
    if dump["num_target"] != 1:
        raise ModelTrainingError(f"models with {dump['num_target']} targets are not supported; train one target per model")
    if dump.get("average_tree_output"):
        raise ModelTrainingError("random-forest style averaged outputs are not supported; use a boosted model")
    num_outputs = int(dump["num_class"][0])
    trees = dump["trees"]
    depth = max(1, max(_depth(tree["nodes"]) for tree in trees))
    if depth > MAX_DEPTH:
        raise ModelTrainingError(f"tree depth {depth} exceeds the kernel's maximum of {MAX_DEPTH}; train with max_depth <= {MAX_DEPTH}")
    class_ids = dump["class_id"]
    padded = [_pad_tree(tree, depth) for tree in trees]
    tree_output = [max(int(class_id), 0) if num_outputs > 1 else 0 for class_id in class_ids]
    base_scores = [float(score) for score in dump["base_scores"]][:num_outputs]
    if len(base_scores) == 1 and num_outputs > 1:
        base_scores = base_scores * num_outputs
    return ForestTables(
        num_features=int(dump["num_feature"]),
        num_outputs=num_outputs,
        depth=depth,
        split_feature=[tree[0] for tree in padded],
        split_threshold=[tree[1] for tree in padded],
        default_right=[tree[2] for tree in padded],
        leaf_value=[tree[3] for tree in padded],
        tree_output=tree_output,
        base_scores=base_scores,
        postprocessor=postprocessor,
        sigmoid_alpha=float(dump.get("sigmoid_alpha", 1.0)),
    )


def _depth(nodes: list[dict]) -> int:
    by_id = {node["node_id"]: node for node in nodes}
    deepest, stack = 0, [(by_id[0], 0)]
    while stack:
        node, level = stack.pop()
        if "left_child" in node:
            stack.append((by_id[node["left_child"]], level + 1))
            stack.append((by_id[node["right_child"]], level + 1))
        else:
            deepest = max(deepest, level)
    return deepest


def _pad_tree(tree: dict, depth: int) -> tuple[list[int], list[float], list[int], list[float]]:
    internal = (1 << depth) - 1
    feature, threshold = [0] * internal, [float("inf")] * internal
    to_right, leaves = [0] * internal, [0.0] * (1 << depth)
    by_id = {node["node_id"]: node for node in tree["nodes"]}
    stack = [(0, 0, 0)]
    while stack:
        node_id, slot, level = stack.pop()
        node = by_id[node_id]
        if "left_child" not in node:
            leaf = node["leaf_value"]
            value = float(leaf[0] if isinstance(leaf, list) else leaf)
            first = slot
            for _ in range(depth - level):
                first = 2 * first + 1
            for offset in range(1 << (depth - level)):
                leaves[first - internal + offset] = value
            continue
        if node.get("node_type") != "numerical_test_node" or node.get("comparison_op") != "<":
            raise ModelTrainingError(
                f"split {node.get('node_type')} {node.get('comparison_op')} is not supported: the kernel "
                "evaluates XGBoost's numerical `value < threshold` splits only (no categorical splits)"
            )
        feature[slot] = int(node["split_feature_id"])
        threshold[slot] = float(node["threshold"])
        to_right[slot] = 0 if node["default_left"] else 1
        stack.append((node["left_child"], 2 * slot + 1, level + 1))
        stack.append((node["right_child"], 2 * slot + 2, level + 1))
    return feature, threshold, to_right, leaves
