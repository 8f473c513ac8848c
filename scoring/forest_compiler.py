"""Compile a Treelite model into a shared library the scoring runtime (`udfs`) loads.

Two backends produce libraries with the same C entry point, `payloom_forest_predict`
(columnar float64 input with Arrow validity bitmaps, float32 output):

- ``"payloom"`` (default): the model's trees as flat tables (`forest_tables`) compiled with
  a branch-free, block-at-a-time kernel (`kernels/forest_kernel.c`). Compiles in under a second.
- ``"tl2cgen"``: TL2cgen's generated if-else code, wrapped by the same entry point; kept as a
  reference and for the benchmark (it is 2-3x slower per row: every split is a hard-to-predict
  branch, see bench/RESULTS.md).

>>> import numpy as np, xgboost, treelite, tempfile, pathlib
>>> rows = np.arange(8, dtype=float).reshape(-1, 1)
>>> booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(rows, label=rows[:, 0] > 3), 2)
>>> with tempfile.TemporaryDirectory() as folder:
...     compiled = compile_forest(treelite.frontend.from_xgboost(booster), pathlib.Path(folder))
...     compiled.library.name, compiled.library.stat().st_size > 0
('model.so', True)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from scoring.errors import ModelTrainingError
from scoring.forest_tables import ForestTables, forest_tables

__all__ = ["CompiledForest", "compile_forest", "DEFAULT_COMPILER_FLAGS", "BACKENDS"]

BACKENDS = ("payloom", "tl2cgen")
DEFAULT_COMPILER_FLAGS = ("-O2", "-fPIC", "-shared", "-fno-math-errno")
"""Portable: no -march=native, so a library built on one x86-64 machine loads on another."""

_POSTPROCESSOR_CODES = {"identity": 0, "sigmoid": 1, "softmax": 2, "exponential": 3}

_TL2CGEN_ENTRY_POINT = r"""
#include "header.h"
#include <math.h>
int32_t payloom_forest_abi_version(void) { return 1; }
int32_t payloom_forest_num_features(void) { return get_num_feature(); }
int32_t payloom_forest_num_outputs(void) { return N_TARGET * MAX_N_CLASS; }
int32_t payloom_forest_num_trees(void) { return -1; }
int32_t payloom_forest_predict(const double* const* columns, const uint8_t* const* validity,
                               const int64_t* offsets, int64_t n_rows, int32_t pred_margin,
                               float* out) {
  const int32_t n_features = get_num_feature();
  union Entry row[n_features];
  for (int64_t i = 0; i < n_rows; ++i) {
    for (int32_t j = 0; j < n_features; ++j) {
      const int64_t k = offsets[j] + i;
      const double v = columns[j][k];
      const int present = validity[j] == NULL || ((validity[j][k >> 3] >> (k & 7)) & 1);
      if (!present || isnan(v)) row[j].missing = -1; else row[j].fvalue = (float)v;
    }
    float* result = out + i * N_TARGET * MAX_N_CLASS;
    for (int c = 0; c < N_TARGET * MAX_N_CLASS; ++c) result[c] = 0.0f;
    predict(row, pred_margin, result);
  }
  return 0;
}
"""


@dataclass(frozen=True)
class CompiledForest:
    """Where the library and its source went, and what building them cost."""

    library: Path
    source_dir: Path
    backend: str
    compile_seconds: float
    compiler_command: list[str] = field(default_factory=list)
    num_trees: int = 0
    depth: int = 0

    @property
    def library_bytes(self) -> int:
        return self.library.stat().st_size


def compile_forest(
    model,
    out_dir: Path,
    *,
    backend: str = "payloom",
    compiler: str = "gcc",
    flags: tuple[str, ...] = DEFAULT_COMPILER_FLAGS,
    tl2cgen_params: dict | None = None,
) -> CompiledForest:
    """Compile `model` (a `treelite.Model`) into `out_dir/model.so`, its C source in `out_dir/src/`."""
    if backend not in BACKENDS:
        raise ModelTrainingError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if shutil.which(compiler) is None:
        raise ModelTrainingError(f"C compiler {compiler!r} not found on PATH; install gcc (Debian: apt-get install gcc)")
    out_dir = Path(out_dir)
    source_dir = out_dir / "src"
    if source_dir.exists():
        shutil.rmtree(source_dir)
    source_dir.mkdir(parents=True)
    began = time.perf_counter()
    if backend == "payloom":
        tables = forest_tables(model)
        (source_dir / "forest_tables.h").write_text(_tables_header(tables))
        kernel = resources.files("scoring") / "kernels" / "forest_kernel.c"
        (source_dir / "forest_kernel.c").write_text(kernel.read_text())
        sources = [source_dir / "forest_kernel.c"]
        num_trees, depth = tables.num_trees, tables.depth
    else:
        import tl2cgen

        tl2cgen.generate_c_code(model, str(source_dir), params=dict(tl2cgen_params or {}))
        (source_dir / "payloom_entry.c").write_text(_TL2CGEN_ENTRY_POINT)
        sources = sorted(source_dir.glob("*.c"))
        num_trees, depth = model.num_tree, 0
    library = out_dir / "model.so"
    command = [compiler, *flags, f"-I{source_dir}", *map(str, sources), "-lm"]
    _compile_atomically(command, library)
    return CompiledForest(
        library=library,
        source_dir=source_dir,
        backend=backend,
        compile_seconds=time.perf_counter() - began,
        compiler_command=[*command[:1], *flags],
        num_trees=num_trees,
        depth=depth,
    )


def _compile_atomically(command: list[str], library: Path) -> None:
    """Run the compiler into a temporary file, then rename: a half-written library never exists."""
    with tempfile.NamedTemporaryFile(dir=library.parent, suffix=".so.partial", delete=False) as partial:
        partial_path = Path(partial.name)
    command = [*command, "-o", str(partial_path)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        partial_path.unlink(missing_ok=True)
        raise ModelTrainingError(f"compiling the model failed ({' '.join(command[:3])} ...):\n{completed.stderr[-4000:]}")
    os.replace(partial_path, library)


def _tables_header(tables: ForestTables) -> str:
    def rows(name: str, c_type: str, table: list[list], literal) -> str:
        body = ",\n".join("  {" + ", ".join(literal(value) for value in row) + "}" for row in table)
        return f"static const {c_type} {name}[{len(table)}][{len(table[0])}] = {{\n{body}\n}};\n"

    lines = [
        "/* Generated by payloom.scoring.forest_compiler from a Treelite model. Do not edit. */",
        f"#define FOREST_TREES {tables.num_trees}",
        f"#define FOREST_DEPTH {tables.depth}",
        f"#define FOREST_FEATURES {tables.num_features}",
        f"#define FOREST_OUTPUTS {tables.num_outputs}",
        f"#define FOREST_POSTPROCESSOR {_POSTPROCESSOR_CODES[tables.postprocessor]}",
        rows("split_feature", "uint16_t", tables.split_feature, str),
        rows("split_threshold", "float", tables.split_threshold, _float_literal),
        rows("default_right", "uint8_t", tables.default_right, str),
        rows("leaf_value", "float", tables.leaf_value, _float_literal),
        "static const uint8_t tree_output[FOREST_TREES] = {" + ", ".join(map(str, tables.tree_output)) + "};",
        "static const float base_score[FOREST_OUTPUTS] = {" + ", ".join(map(_float_literal, tables.base_scores)) + "};",
        f"static const float sigmoid_alpha = {_float_literal(tables.sigmoid_alpha)};",
        "",
    ]
    return "\n".join(lines)


def _float_literal(value: float) -> str:
    """An exact C float literal (hexadecimal), or INFINITY."""
    if value == float("inf"):
        return "INFINITY"
    if value == float("-inf"):
        return "-INFINITY"
    return f"(float){float(value).hex()}"
