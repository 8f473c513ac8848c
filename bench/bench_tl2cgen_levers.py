"""Benchmark: what each TL2cgen compilation lever buys, against plain TL2cgen in the same run.

One run trains the model of bench_scoring.py (200 trees, depth 6, 30 features, 5% missing),
then builds it with `compile_forest(..., backend="tl2cgen")` once per lever, each lever changed
alone against the baseline (TL2cgen's default params, the project's default flags with -O2):

- `quantize=1`: each input value is first mapped to its threshold bin (a binary search per
  feature, `quantize.c`), then the trees compare integers,
- `annotate_in`: branch counts from `tl2cgen.annotate_branch` over the training rows, emitted as
  `LIKELY`/`UNLIKELY` on every split; then quantize and annotation together,
- `parallel_comp=8` and `=32`: the trees split over that many .c files. `compile_forest` runs ONE
  gcc over all files, so they are compiled one after another; the bench also times the same
  sources with one gcc process per file, every core busy (done here only, not by `compile_forest`),
- compiler flags `-O1`, `-O3`, `-O3 -march=native` in place of `-O2`,
- all of quantize, annotation, `parallel_comp=32` and `-O1` together,
- batching, for the baseline library on every core: 2,048 or 65,536 rows per library call on a
  thread pool, against `CompiledForest.predict(threads=None)` (itself ~rows/16 rows per call).

Every library scores the same rows (default 1 M) through `CompiledForest.predict` on ONE thread:
what a lever changes is the speed of the generated code, and one thread is the figure a shared
2-core machine disturbs least (whether the second core is free decides most of a 2-thread
figure). The baseline and the references are also timed on every core. References, same rows
and run: the project's own kernel (backend "payloom") and `xgboost.Booster.inplace_predict`
(nthread = 1 and every core). Throughput is the best of several rounds; each round times every
path once, in a rotated order, so drift on a shared machine spreads over all paths. Compile time
is one build each (code generation + gcc). Also recorded: each library's machine code (.text) size
and whether it is byte-identical to the baseline's (then any speed gap is noise), the fixed cost
of one call (a one-row `predict`), and how one-sided the annotated splits are.
Writes bench/results/tl2cgen_levers.json.

    .venv/bin/python bench/bench_tl2cgen_levers.py [--rows 1000000] [--repeats 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import tl2cgen
import treelite
import xgboost

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.forest_compiler import DEFAULT_COMPILER_FLAGS, compile_forest  # noqa: E402
from udfs.compiled_forest import CompiledForest  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "tl2cgen_levers.json"
FEATURES = 30
TREES = 200
CORES = os.cpu_count() or 1
BASELINE = "tl2cgen_baseline"
ONE_THREAD = "_1_thread"
BATCH_SIZES = (2048, 65536)
PARALLEL_COMP = (8, 32)
CHECK_ROWS = 100_000
ALL_CORES_BUILDS = (BASELINE, "payloom_kernel")
XGBOOST = "xgboost_inplace_predict"

Scorer = Callable[[], np.ndarray]


@dataclass(frozen=True)
class Build:
    """One library: its name in the results, its label in the table, TL2cgen params, compiler flags."""

    name: str
    label: str
    params: dict[str, object] = field(default_factory=dict)
    flags: tuple[str, ...] = DEFAULT_COMPILER_FLAGS
    backend: str = "tl2cgen"


def rows_with_holes(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, FEATURES))
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    return matrix


def train(trees: int) -> tuple[xgboost.Booster, np.ndarray]:
    """The model of bench_scoring.py, and its training rows (for the branch annotation)."""
    features = rows_with_holes(100_000, seed=1)
    signal = np.nan_to_num(features)
    labels = (signal[:, 0] + signal[:, 1] * signal[:, 2] - signal[:, 3] ** 2 + np.random.default_rng(2).normal(size=len(signal)) > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": CORES}
    return xgboost.train(params, xgboost.DMatrix(features, label=labels), trees), features


def annotate(model: treelite.Model, training_rows: np.ndarray, path: Path) -> dict[str, float]:
    """Write TL2cgen's branch annotation of `training_rows` to `path`; return how one-sided the splits are."""
    began = time.perf_counter()
    # Already C-contiguous float32: tl2cgen 1.0.0's DMatrix calls np.array(..., copy=False), which
    # NumPy 2 refuses whenever a copy or a cast would be needed.
    matrix = tl2cgen.DMatrix(np.ascontiguousarray(training_rows, dtype=np.float32), missing=np.nan)
    tl2cgen.annotate_branch(model, matrix, path=path, nthread=CORES)
    seconds = time.perf_counter() - began
    counts = json.loads(path.read_text())
    trees = json.loads(model.dump_as_json(pretty_print=False))["trees"]
    visits = majority = one_sided = 0.0
    for tree, tree_counts in zip(trees, counts):
        for node in tree["nodes"]:
            if "left_child" not in node or tree_counts[node["node_id"]] == 0:
                continue
            here = tree_counts[node["node_id"]]
            larger = max(tree_counts[node["left_child"]], tree_counts[node["right_child"]])
            visits += here
            majority += larger
            one_sided += here if larger >= 0.9 * here else 0
    return {
        "annotate_branch_100k_training_rows_seconds": seconds,
        # Share of split evaluations that go the way the annotation predicts (a perfect static hint).
        "annotation_split_evaluations_taking_majority_side_share": majority / visits,
        "annotation_split_evaluations_at_splits_90_percent_one_sided_share": one_sided / visits,
    }


def with_optimisation(*replacement: str) -> tuple[str, ...]:
    """The project's default flags with -O2 replaced by `replacement`."""
    return (*replacement, *(flag for flag in DEFAULT_COMPILER_FLAGS if flag != "-O2"))


def source_bytes(source_dir: Path) -> int:
    return sum(path.stat().st_size for path in source_dir.iterdir() if path.suffix in (".c", ".h"))


def text_section(library: Path) -> bytes:
    """The library's machine code (.text), via binutils' objcopy (present wherever gcc can link)."""
    with tempfile.NamedTemporaryFile(suffix=".text") as out:
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.text", str(library), out.name], check=True, capture_output=True)
        return Path(out.name).read_bytes()


def single_row_call_microseconds(forest: CompiledForest, calls: int = 200) -> float:
    """Best time of one `predict` call on one row: the fixed cost a call adds, whatever its rows."""
    row = [np.array([0.5]) for _ in range(FEATURES)]
    forest.predict(row)
    best = float("inf")
    for _ in range(calls):
        began = time.perf_counter()
        forest.predict(row, threads=1)
        best = min(best, time.perf_counter() - began)
    return best * 1e6


def compile_files_in_parallel(model: treelite.Model, params: dict[str, object], source_dir: Path, work: Path) -> float:
    """Seconds for TL2cgen's code generation (redone into `work`), one `gcc -c` per .c file of
    `source_dir` (a `compile_forest` build with the same params) with every core busy, and the link.
    Done here only: `compile_forest` runs one gcc over all files."""
    work.mkdir(parents=True)
    began = time.perf_counter()
    tl2cgen.generate_c_code(model, str(work), params=dict(params))
    flags = [flag for flag in DEFAULT_COMPILER_FLAGS if flag != "-shared"]

    def compile_one(source: Path) -> Path:
        target = work / source.with_suffix(".o").name
        subprocess.run(["gcc", *flags, f"-I{source_dir}", "-c", str(source), "-o", str(target)], check=True, capture_output=True)
        return target

    largest_first = sorted(source_dir.glob("*.c"), key=lambda path: -path.stat().st_size)
    with ThreadPoolExecutor(CORES) as pool:
        objects = list(pool.map(compile_one, largest_first))
    subprocess.run(["gcc", "-shared", *map(str, objects), "-lm", "-o", str(work / "model.so")], check=True, capture_output=True)
    return time.perf_counter() - began


def in_batches(forest: CompiledForest, columns: list[pa.Array], rows_per_call: int) -> Scorer:
    """Score `rows_per_call` rows per library call (one thread each), calls spread over every core.
    The batches are zero-copy slices cut beforehand, as rows arrive from DuckDB in chunks."""
    batches = [[column.slice(start, rows_per_call) for column in columns] for start in range(0, len(columns[0]), rows_per_call)]

    def run() -> np.ndarray:
        with ThreadPoolExecutor(CORES) as pool:
            return np.concatenate(list(pool.map(lambda batch: forest.predict(batch, threads=1), batches)))

    return run


def scoring_paths(boosters: dict[str, xgboost.Booster], forests: dict[str, CompiledForest], matrix: np.ndarray) -> dict[str, Scorer]:
    """Every timed path, each a closure scoring all rows of `matrix`."""
    columns = [pa.array(matrix[:, index], from_pandas=True) for index in range(FEATURES)]
    paths: dict[str, Scorer] = {name: partial(booster.inplace_predict, matrix) for name, booster in boosters.items()}
    for name, forest in forests.items():
        paths[name + ONE_THREAD] = partial(forest.predict, columns, threads=1)
        if name in ALL_CORES_BUILDS:
            paths[name] = partial(forest.predict, columns, threads=None)
    for rows_per_call in BATCH_SIZES:
        paths[f"{BASELINE}_batch_{rows_per_call}_rows_per_call"] = in_batches(forests[BASELINE], columns, rows_per_call)
    return paths


def time_rounds(paths: dict[str, Scorer], repeats: int) -> dict[str, float]:
    """Best seconds per path over `repeats` rounds; each round runs every path once, the order
    rotated by a different offset each round."""
    names = list(paths)
    best = {name: float("inf") for name in names}
    for round_number in range(repeats):
        shift = round_number * len(names) // max(repeats, 1)
        for name in names[shift:] + names[:shift]:
            began = time.perf_counter()
            paths[name]()
            best[name] = min(best[name], time.perf_counter() - began)
        print(f"  round {round_number + 1}/{repeats} done", flush=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated sources and libraries (about 30 MB) for inspection")
    arguments = parser.parse_args()
    began_all = time.perf_counter()
    figures: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="payloom-bench-tl2cgen-"))

    booster, training_rows = train(TREES)
    model = treelite.frontend.from_xgboost(booster)
    annotation = work / "annotation.json"
    figures.update(annotate(model, training_rows, annotation))

    builds = [
        Build(BASELINE, "TL2cgen defaults, -O2 (baseline)"),
        Build("tl2cgen_quantize", "quantize=1", {"quantize": 1}),
        Build("tl2cgen_annotate", "annotate_in (training rows)", {"annotate_in": str(annotation)}),
        Build("tl2cgen_quantize_annotate", "quantize=1 + annotate_in", {"quantize": 1, "annotate_in": str(annotation)}),
        *(Build(f"tl2cgen_parallel_comp_{count}", f"parallel_comp={count}", {"parallel_comp": count}) for count in PARALLEL_COMP),
        Build("tl2cgen_O1", "-O1", flags=with_optimisation("-O1")),
        Build("tl2cgen_O3", "-O3", flags=with_optimisation("-O3")),
        Build("tl2cgen_O3_march_native", "-O3 -march=native", flags=with_optimisation("-O3", "-march=native")),
        Build("tl2cgen_tuned", "quantize+annotate, parallel_comp=32, -O1", {"quantize": 1, "annotate_in": str(annotation), "parallel_comp": 32},
              flags=with_optimisation("-O1")),
        Build("payloom_kernel", "payloom kernel, -O2 (reference)", backend="payloom"),
    ]
    forests: dict[str, CompiledForest] = {}
    texts: dict[str, bytes] = {}
    labels = {build.name: build.label for build in builds}
    for build in builds:
        result = compile_forest(model, work / build.name, backend=build.backend, flags=build.flags, tl2cgen_params=build.params)
        figures[f"{build.name}_compile_seconds"] = result.compile_seconds
        figures[f"{build.name}_library_kb"] = result.library_bytes / 1024
        figures[f"{build.name}_source_kb"] = source_bytes(result.source_dir) / 1024
        figures[f"{build.name}_c_files"] = len(list(result.source_dir.glob("*.c")))
        texts[build.name] = text_section(result.library)
        figures[f"{build.name}_text_kb"] = len(texts[build.name]) / 1024
        if build.backend == "tl2cgen" and build.name != BASELINE:
            # 1 when the flags or params left the machine code unchanged: any speed gap is then noise.
            figures[f"{build.name}_text_identical_to_baseline"] = int(texts[build.name] == texts[BASELINE])
        forests[build.name] = CompiledForest(result.library)
        print(f"  built {build.name:<28} {result.compile_seconds:6.1f} s  {result.library_bytes / 1024:7.0f} KB", flush=True)
    for count in PARALLEL_COMP:
        key = f"tl2cgen_parallel_comp_{count}_{CORES}_gcc_processes_compile_seconds"
        figures[key] = compile_files_in_parallel(model, {"parallel_comp": count}, work / f"tl2cgen_parallel_comp_{count}" / "src", work / f"gcc_processes_{count}")
        print(f"  built parallel_comp={count}, {CORES} gcc processes at once {figures[key]:6.1f} s", flush=True)

    booster.set_param({"nthread": CORES})
    one_thread_booster = booster.copy()
    one_thread_booster.set_param({"nthread": 1})
    boosters = {XGBOOST: booster, XGBOOST + ONE_THREAD: one_thread_booster}
    matrix = rows_with_holes(arguments.rows, seed=3)
    # Warm-up and accuracy check on the first rows only: a full extra pass per path would cost minutes.
    check = {name: np.asarray(scorer()).reshape(-1) for name, scorer in scoring_paths(boosters, forests, matrix[:CHECK_ROWS]).items()}
    for name in forests:
        figures[f"max_abs_difference_{name}_vs_xgboost"] = float(np.max(np.abs(check[name + ONE_THREAD] - check[XGBOOST])))
    figures[f"{BASELINE}_single_row_call_microseconds"] = single_row_call_microseconds(forests[BASELINE])
    paths = scoring_paths(boosters, forests, matrix)
    for name, seconds in time_rounds(paths, arguments.repeats).items():
        figures[f"{name}_rows_per_second"] = arguments.rows / seconds

    for name in paths:
        baseline = BASELINE + ONE_THREAD if name.endswith(ONE_THREAD) else BASELINE
        if name != baseline:
            figures[f"ratio_{name}_rows_per_second_vs_{baseline}"] = figures[f"{name}_rows_per_second"] / figures[f"{baseline}_rows_per_second"]
    for name in ALL_CORES_BUILDS + (XGBOOST,):
        # Thread scaling: how much of the second core the run actually got.
        figures[f"ratio_{name}_rows_per_second_vs_{name}{ONE_THREAD}"] = figures[f"{name}_rows_per_second"] / figures[f"{name}{ONE_THREAD}_rows_per_second"]
    for build in builds[1:]:
        for what in ("compile_seconds", "library_kb", "text_kb"):
            figures[f"ratio_{build.name}_{what}_vs_{BASELINE}"] = figures[f"{build.name}_{what}"] / figures[f"{BASELINE}_{what}"]
    for count in PARALLEL_COMP:
        key = f"tl2cgen_parallel_comp_{count}_{CORES}_gcc_processes_compile_seconds"
        figures[f"ratio_{key}_vs_{BASELINE}"] = figures[key] / figures[f"{BASELINE}_compile_seconds"]
    figures["rows"] = arguments.rows
    figures["repeats"] = arguments.repeats
    figures["cpu_count"] = CORES
    figures["total_wall_seconds"] = time.perf_counter() - began_all

    print_table(figures, builds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {RESULTS} ({figures['total_wall_seconds']:.0f} s in all)")
    if arguments.keep:
        print(f"sources and libraries kept in {work}")
    else:
        shutil.rmtree(work)


def print_table(figures: dict[str, float], builds: list[Build]) -> None:
    """Rows/s on one thread and on every core, compile time and sizes, each with its ratio to the baseline."""

    def number(key: str, form: str, width: int, scale: float = 1.0) -> str:
        return format(figures[key] / scale, form).rjust(width) if key in figures else " " * width

    def ratio(key: str) -> str:
        return f"{figures[key]:6.2f}x" if key in figures else " " * 7

    def speed(name: str) -> str:
        baseline = BASELINE + ONE_THREAD if name.endswith(ONE_THREAD) else BASELINE
        if f"{name}_rows_per_second" not in figures:
            return " " * 14
        shown = "  1.00x" if name == baseline else ratio(f"ratio_{name}_rows_per_second_vs_{baseline}")
        return f"{number(f'{name}_rows_per_second', '.0f', 6, 1000)} {shown}"

    print()
    print(f"{'path':<40} {'1 thread':>14} {f'{CORES} threads':>14} {'compile s':>14} {'lib KB':>6} {'text KB':>7} {'src KB':>6} {'max|diff|':>9}")
    print(f"{'':<40} {'k rows/s':>14} {'k rows/s':>14}")
    print(f"{'xgboost inplace_predict':<40} {speed(XGBOOST + ONE_THREAD)} {speed(XGBOOST)}")
    for build in builds:
        name = build.name
        compile_ratio = "  1.00x" if name == BASELINE else ratio(f"ratio_{name}_compile_seconds_vs_{BASELINE}")
        print(f"{build.label:<40} {speed(name + ONE_THREAD)} {speed(name)} {number(f'{name}_compile_seconds', '.1f', 6)} {compile_ratio} "
              f"{number(f'{name}_library_kb', '.0f', 6)} {number(f'{name}_text_kb', '.0f', 7)} {number(f'{name}_source_kb', '.0f', 6)} {number(f'max_abs_difference_{name}_vs_xgboost', '.1e', 9)}")
    for count in PARALLEL_COMP:
        key = f"tl2cgen_parallel_comp_{count}_{CORES}_gcc_processes_compile_seconds"
        label = f"parallel_comp={count}, {CORES} gcc processes"
        print(f"{label:<40} {'':>14} {'':>14} {number(key, '.1f', 6)} {ratio(f'ratio_{key}_vs_{BASELINE}')}")
    for rows_per_call in BATCH_SIZES:
        name = f"{BASELINE}_batch_{rows_per_call}_rows_per_call"
        print(f"{f'baseline, {rows_per_call:,} rows per call':<40} {'':>14} {speed(name)}")
    scaling = ", ".join(f"{name} {figures[f'ratio_{name}_rows_per_second_vs_{name}{ONE_THREAD}']:.2f}x" for name in ALL_CORES_BUILDS + (XGBOOST,))
    print(f"{CORES} threads vs 1 thread: {scaling}; one single-row call of the baseline: {figures[f'{BASELINE}_single_row_call_microseconds']:.0f} us")
    identical = [name for name in figures if name.endswith("_text_identical_to_baseline") and figures[name] == 1]
    if identical:
        print("machine code identical to the baseline's: " + ", ".join(name.removesuffix("_text_identical_to_baseline") for name in identical))
    print(f"branch annotation of the training rows: {figures['annotate_branch_100k_training_rows_seconds']:.1f} s; "
          f"split evaluations going the annotated way: {figures['annotation_split_evaluations_taking_majority_side_share']:.1%}, "
          f"at >=90%-one-sided splits: {figures['annotation_split_evaluations_at_splits_90_percent_one_sided_share']:.1%}")


if __name__ == "__main__":
    main()
