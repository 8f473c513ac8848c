"""The `payloom` command line.

    payloom run [--workspace build] [--attempts 200000] [--seed 42]   the main job
    payloom build --raw-dir DIR [--workspace build] [--target spark]  features from your own data (DuckDB or Spark)
    payloom train [--workspace build]                                 decline models: train, compile, score in SQL
    payloom prepare-training-sets [--workspace build] [--service S | --views V ...]
                                                                      index the feature tables for fast training sets
    payloom serve [--workspace build] [--port 8080] [--token T] [--workers N]
                                                                      the online decision service (HTTP)
    payloom check-parity [--workspace build] [--sample 20]            online decisions vs the offline SQL path
    payloom load-decisions [--workspace build]                        the service's spooled decisions -> the decision log
    payloom summary [--workspace build]                               counts of a built workspace
    payloom replay-policies [--days 28] [--payments-per-day 3000] [--seed 7] [--gateway-spread 1.0] [--no-health] [--out build/replay]
                                                                      closed-loop policy comparison on the simulator
    payloom export-sql MODEL [--dialect duckdb|spark|spark_function] [--output F.sql] [--install-into DB.duckdb]
                                                                      a model as plain SQL
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from datetime import datetime, timezone

import duckdb

from scoring.decline_training_job import train_decline_job
from scoring.errors import PayloomError
from scoring.feature_build import TARGETS, build_features
from scoring.main_job import run_main_job
from scoring.run_summary import summarize_feature_tables, summarize_workspace
from scoring.sql_export import SUPPORTED_DIALECTS
from scoring.warehouse_lock import connect_warehouse, warehouse_lock_error
from scoring.workspace import Workspace

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="payloom", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="simulate a world, build all features with dbt, print a summary")
    run.add_argument("--workspace", default="build", help="folder for raw data, warehouse and features (default: build)")
    run.add_argument("--attempts", type=int, default=200_000, help="simulated payment attempts (10 thousand to 50 million)")
    run.add_argument("--seed", type=int, default=42)
    run.add_argument("--days", type=int, default=120, help="simulated days (default: 120)")
    run.add_argument("--dirty-fraction", type=float, default=0.001, help="share of contract-violating rows to inject")
    run.add_argument("--candidates", type=int, default=6, help="hyper-parameter candidates of the decline model (default: 6)")
    run.add_argument("--offer-share", type=float, default=1.5, help="simulated cross-sell offers per customer and 30 days (default: 1.5)")
    run.add_argument("--quiet", action="store_true", help="print only the summary")

    build = commands.add_parser("build", help="validate a raw directory and build its features with dbt")
    build.add_argument("--raw-dir", required=True, help="folder with payment_attempts/ (and optional customer tables)")
    build.add_argument("--workspace", default="build")
    build.add_argument("--feature-cutoff-at", type=datetime.fromisoformat, default=None,
                       help="stamp of the current feature rows (default: now), e.g. 2025-05-01")
    build.add_argument("--load-started-at", type=datetime.fromisoformat, default=None,
                       help="rows stamped after this instant are quarantined as future (default: now)")
    build.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")
    build.add_argument("--target", choices=TARGETS, default="duckdb",
                       help="dbt target of profiles.yml: duckdb (default) or spark (local SparkSession, needs Java 17)")
    build.add_argument("--quiet", action="store_true")

    train = commands.add_parser("train", help="train, compile and publish the decline models of a built workspace, then score it in SQL")
    train.add_argument("--workspace", default="build")
    train.add_argument("--candidates", type=int, default=6, help="hyper-parameter candidates of the decline model (default: 6)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--quiet", action="store_true")

    prepare = commands.add_parser("prepare-training-sets", help="build the point-in-time indexes of a built workspace's feature "
                                  "tables now (otherwise the first training set of each table builds its own)")
    prepare.add_argument("--workspace", default="build")
    chosen = prepare.add_mutually_exclusive_group()
    chosen.add_argument("--service", default=None, help="only the views of this feature service")
    chosen.add_argument("--views", nargs="+", default=None, help="only these feature views (default: every view whose table is built)")

    serve = commands.add_parser("serve", help="run the online decision service (HTTP) on a trained workspace")
    serve.add_argument("--workspace", default="build")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--token", default=None, help="require `Authorization: Bearer <token>` (default: env PAYLOOM_SERVICE_TOKEN)")
    serve.add_argument("--workers", type=int, default=1, help="processes serving the port, each with its own decider (default 1)")
    serve.add_argument("--max-body-bytes", type=int, default=64 * 1024,
                       help="largest decision request body; a larger one is answered 413 (default 65536)")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                       help="the service's JSON log lines on stderr: info logs every refused request (default info)")

    parity = commands.add_parser(
        "check-parity", help="replay sampled attempts as online decisions and compare them with the offline SQL path (exit 1 if any differ)"
    )
    parity.add_argument("--workspace", default="build")
    parity.add_argument("--sample", type=int, default=20, help="attempts to replay (default 20)")
    parity.add_argument("--seed", type=int, default=0)
    parity.add_argument("--quiet", action="store_true")

    load = commands.add_parser("load-decisions", help="append the decision service's spooled decisions to the decision log "
                               "(decisions.decision_log in the warehouse)")
    load.add_argument("--workspace", default="build")

    summary = commands.add_parser("summary", help="print row counts of a built workspace")
    summary.add_argument("--workspace", default="build")

    replay = commands.add_parser("replay-policies", help="replay simulated days with a gateway degradation through static rules, "
                                 "IPW routing, the bandit and the oracle; print and write the comparison")
    replay.add_argument("--days", type=int, default=28)
    replay.add_argument("--payments-per-day", type=int, default=3_000)
    replay.add_argument("--seed", type=int, default=7)
    replay.add_argument("--retrain-every", type=int, default=2, help="days between retrainings (default 2)")
    replay.add_argument("--gateway-spread", type=float, default=1.0,
                        help="scale the differences between gateways per segment (default 1.0: the simulator's)")
    replay.add_argument("--no-health", action="store_true",
                        help="turn off the bandit's gateway-health recalibration from its own decision log (on by default)")
    replay.add_argument("--out", default="build/replay", help="folder for the table, chart and OPE checks (default build/replay)")

    export = commands.add_parser("export-sql", help="write a registered model as plain SQL: DuckDB macros, a Spark query or Spark SQL functions")
    export.add_argument("model", help="model name in the registry")
    export.add_argument("--dialect", choices=SUPPORTED_DIALECTS, default="duckdb")
    export.add_argument("--workspace", default="build", help="its registry is <workspace>/models (default: build)")
    export.add_argument("--registry", default=None, help="model registry folder (overrides --workspace)")
    export.add_argument("--version", default=None, help="model version (default: the promoted one)")
    export.add_argument("--output", default=None, help="write the SQL to this file (default: print it)")
    export.add_argument("--install-into", default=None, help="DuckDB file to store the macros in (score_<model>_sql)")
    export.add_argument("--relation", default="features", help="spark: the table or view to score (default: features)")
    export.add_argument("--keep", action="append", default=[], help="spark: a column to pass through (repeatable)")
    return parser


def _export_sql(arguments: argparse.Namespace) -> None:
    from pathlib import Path

    from scoring.sql_export import export_sql, install_sql_macros

    registry = arguments.registry or Workspace.at(arguments.workspace).model_registry
    if arguments.install_into and arguments.dialect != "duckdb":
        raise PayloomError(f"--install-into writes DuckDB macros; it cannot be used with --dialect {arguments.dialect}")
    export = export_sql(registry, arguments.model, dialect=arguments.dialect, version=arguments.version,
                        relation=arguments.relation, keep_columns=arguments.keep)
    if arguments.install_into:
        install_sql_macros(arguments.install_into, registry, arguments.model, version=export.version)
        print(f"installed {export.function_name}(...) ({export.model} {export.version}) into {arguments.install_into}")
    if arguments.output:
        Path(arguments.output).write_text(export.script)
        print(f"wrote {export.function_name}: {export.model} {export.version} as {export.dialect} SQL to {arguments.output}")
    elif not arguments.install_into:
        print(export.script, end="")


def _prepare_training_sets(arguments: argparse.Namespace) -> None:
    from scoring.point_in_time import prepare_training_index, service_views, view_specs

    workspace = Workspace.at(arguments.workspace)
    views = list(service_views(arguments.service)) if arguments.service else arguments.views or [
        name for name, spec in view_specs().items() if (workspace.features_dir / f"{spec.dbt_model}.parquet").is_file()]
    if not views:
        raise PayloomError(f"no feature tables in {workspace.features_dir}: run `payloom build` for this workspace first")
    prepared = prepare_training_index(workspace, views=views)
    for view in views:
        print(f"{view}: {prepared.get(view) or 'not indexable; its training sets take the two-pass path'}")


def _load_decisions(workspace: Workspace) -> None:
    from scoring.action_health import ActionHealth, publish_factors, published_factors_path
    from scoring.bandit_decisions import OPTIMIZATION_POLICY
    from scoring.decision_spool import SPOOL_FOLDER, load_spooled_decisions

    if not workspace.warehouse.exists():
        raise PayloomError(f"{workspace.warehouse} does not exist: give the --workspace the service ran on")
    with connect_warehouse(workspace) as connection:
        load = load_spooled_decisions(connection, workspace.root / SPOOL_FOLDER)
        health = ActionHealth()
        groups = publish_factors(connection, workspace.root, OPTIMIZATION_POLICY, datetime.now(timezone.utc).replace(tzinfo=None),
                                 health=health)
    result = load.append
    quarantined = sum(result.quarantined.values())
    print(f"decision spool: {load.files} files, {load.rows} decisions: {result.written} written to decisions.decision_log, "
          f"{result.already_logged} already logged, {result.duplicates_in_batch} duplicates, {quarantined} quarantined"
          + (f" ({', '.join(f'{reason}: {count}' for reason, count in result.quarantined.items())})" if quarantined else ""))
    where = published_factors_path(workspace.root, OPTIMIZATION_POLICY)
    if groups:
        print(f"action health of {OPTIMIZATION_POLICY} (last {health.window:,} judged decisions, k {health.k:g}) -> {where}: "
              + ", ".join(f"{g['action_group']} {g['factor']:.3f} ({g['decisions']} decisions)" for g in groups))
    else:
        print(f"action health of {OPTIMIZATION_POLICY}: no decision with a reward yet (append rewards with "
              f"scoring.decision_log.append_rewards); every factor stays 1 -> {where}")


def main(argv: list[str] | None = None) -> int:
    # Feast's DuckDB offline store goes through ibis, which calls a DuckDB method deprecated in 2.0:
    # a warning per read that the user can do nothing about.
    warnings.filterwarnings("ignore", message=r"fetch_arrow_table\(\) is deprecated", category=DeprecationWarning)
    arguments = _parser().parse_args(argv)
    echo = None if getattr(arguments, "quiet", False) else sys.stderr
    try:
        if arguments.command == "run":
            result = run_main_job(
                Workspace.at(arguments.workspace),
                attempts=arguments.attempts,
                seed=arguments.seed,
                days=arguments.days,
                dirty_fraction=arguments.dirty_fraction,
                candidates=arguments.candidates,
                offer_share=arguments.offer_share,
                echo=echo,
            )
            print(result.summary.format())
            print(result.serving.format())
            print(result.decline_report.format())
            if result.cross_sell_report is not None:
                print(result.cross_sell_report.format())
            print(result.decision.format())
            print(result.replay.format())
            print("timings: " + ", ".join(f"{step} {seconds:.1f}s" for step, seconds in result.seconds.items()))
        elif arguments.command == "build":
            workspace = Workspace.at(arguments.workspace, raw_dir=arguments.raw_dir)
            build_features(workspace, feature_cutoff_at=arguments.feature_cutoff_at, load_started_at=arguments.load_started_at,
                           full_refresh=arguments.full_refresh, target=arguments.target, echo=echo)
            summary = summarize_workspace(workspace) if arguments.target == "duckdb" else summarize_feature_tables(workspace)
            print(summary.format())
        elif arguments.command == "train":
            report = train_decline_job(Workspace.at(arguments.workspace), candidates=arguments.candidates, seed=arguments.seed, echo=echo)
            print(report.format())
        elif arguments.command == "prepare-training-sets":
            _prepare_training_sets(arguments)
        elif arguments.command == "serve":
            from scoring.decision_service import serve  # FastAPI and Feast load only for this command

            serve(Workspace.at(arguments.workspace), host=arguments.host, port=arguments.port,
                  token=arguments.token or os.environ.get("PAYLOOM_SERVICE_TOKEN"), workers=arguments.workers,
                  max_body_bytes=arguments.max_body_bytes, log_level=arguments.log_level)
        elif arguments.command == "check-parity":
            from scoring.online_offline_parity import check_online_offline_parity  # Feast loads only for this command

            report = check_online_offline_parity(Workspace.at(arguments.workspace), sample=arguments.sample, seed=arguments.seed, echo=echo)
            print(report.format())
            if not report.ok:
                return 1
        elif arguments.command == "replay-policies":
            from scoring.replay_report import run_closed_loop_summary

            print(run_closed_loop_summary(days=arguments.days, payments_per_day=arguments.payments_per_day, seed=arguments.seed,
                                          retrain_every=arguments.retrain_every, out_dir=arguments.out,
                                          gateway_spread=arguments.gateway_spread,
                                          **({"health": None} if arguments.no_health else {})).format())
        elif arguments.command == "export-sql":
            _export_sql(arguments)
        elif arguments.command == "load-decisions":
            _load_decisions(Workspace.at(arguments.workspace))
        elif arguments.command == "summary":
            print(summarize_workspace(Workspace.at(arguments.workspace)).format())
    except PayloomError as error:
        print(f"payloom: error: {error}", file=sys.stderr)
        return 2
    except duckdb.IOException as error:
        locked = warehouse_lock_error(str(error))
        if locked is None:
            raise
        print(f"payloom: error: {locked}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
