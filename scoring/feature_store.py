"""Serve a workspace's features with Feast: apply `feature_repo/`, materialise, read online.

One repo serves every workspace: `feature_repo/feature_store.yaml` and the sources take their
paths from PAYLOOM_FEATURES_DIR and PAYLOOM_FEATURE_STORE_DIR, which `Workspace.feast_environment`
sets. Feast's state (registry.db, online_store.db) lives in `workspace.feature_store_dir`.

>>> settings = feature_store_settings(Workspace.at("/tmp/payloom-example"))
>>> settings["project"], settings["offline_store"]["type"], settings["online_store"]["type"]
('payloom', 'duckdb', 'sqlite')
>>> settings["registry"]
'/tmp/payloom-example/feature_store/registry.db'

The online store is SQLite unless the workspace has a Redis address (`Workspace.redis_address`,
set from PAYLOOM_ONLINE_STORE=redis and PAYLOOM_REDIS_URL by `Workspace.at`). The `feast apply`
subprocess and `open_feature_store` read the same settings: `apply_feature_store` writes them to
`<feature_store_dir>/feature_store.yaml` and runs `feast --feature-store-yaml` on that file.

>>> redis = Workspace.at("/tmp/payloom-example", redis_address="cache:6380,password=s3cret")
>>> feature_store_settings(redis)["online_store"]
{'type': 'redis', 'connection_string': 'cache:6380,password=s3cret,socket_connect_timeout=2,socket_timeout=5,retry=null'}
>>> redis_display_address(redis.redis_address)       # for messages: never the password
'cache:6380'

`import feast` takes ~12 s, so Feast is imported inside the functions that need it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import weakref
from collections.abc import Mapping, Sequence
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import yaml

from scoring.errors import FeatureStoreError
from scoring.workspace import FEATURE_REPO_DIR, ONLINE_STORE_ENV, REDIS_URL_ENV, Workspace

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = [
    "apply_feature_store",
    "feature_store_settings",
    "materialize_feature_store",
    "online_features",
    "resolve_feature_service",
    "online_store_health",
    "open_feature_store",
    "redis_connection_string",
    "redis_display_address",
]

GENERATED_YAML_NAME = "feature_store.yaml"

# Added to a Redis connection string that does not set them. redis-py's own default retries a
# failed command 3 times with up to 14 s of backoff (about 4 s seen against a closed port), and
# has no connect timeout: a scoring service wants a quick FeatureStoreError instead. A connection
# that broke while Redis was away is replaced when the pool hands it out again, so reads resume
# once Redis is back without retries.
REDIS_CLIENT_DEFAULTS = {"socket_connect_timeout": "2", "socket_timeout": "5", "retry": "null"}


#: Feast's Spark offline store on a local SparkSession (PAYLOOM_OFFLINE_STORE=spark). For a cluster,
#: use feature_repo/variants/spark_offline_redis_online.yaml and set spark.master there.
SPARK_OFFLINE_STORE: dict[str, Any] = {
    "type": "spark",
    "spark_conf": {
        "spark.master": "local[2]",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    },
}


def feature_store_settings(workspace: Workspace) -> dict[str, Any]:
    """`feature_repo/feature_store.yaml` with `${VAR}` expanded for `workspace`, as Feast reads it.

    Like Feast (os.path.expandvars), a variable that is not set stays as written.
    """
    environment = workspace.feast_environment()
    text = (FEATURE_REPO_DIR / "feature_store.yaml").read_text()
    expanded = re.sub(r"\$\{(\w+)\}", lambda match: environment.get(match.group(1), match.group(0)), text)
    settings = yaml.safe_load(expanded)
    if workspace.offline_store == "spark":
        settings["offline_store"] = dict(SPARK_OFFLINE_STORE)
    if workspace.redis_address is not None:
        settings["online_store"] = {
            "type": "redis",
            "connection_string": redis_connection_string(workspace.redis_address),
        }
    return settings


def redis_connection_string(address: str) -> str:
    """Feast's connection string for a Redis `address`, with REDIS_CLIENT_DEFAULTS where it sets none.

    `address` is Feast's form, `host:port[,db=N][,password=...][,ssl=true]`, or a URL
    `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS).

    >>> redis_connection_string("localhost:6379,socket_timeout=0.2")
    'localhost:6379,socket_timeout=0.2,socket_connect_timeout=2,retry=null'
    >>> redis_connection_string("redis://:s3cret@cache:6380/2")
    'cache:6380,db=2,password=s3cret,socket_connect_timeout=2,socket_timeout=5,retry=null'
    """
    host, port, params = _parse_redis_address(address)
    parts = [f"{host}:{port}"] + [f"{key}={value}" for key, value in params.items()]
    parts += [f"{key}={value}" for key, value in REDIS_CLIENT_DEFAULTS.items() if key not in params]
    return ",".join(parts)


def redis_display_address(address: str) -> str:
    """`host:port` of a Redis address, for messages and health reports (without the password)."""
    host, port, _ = _parse_redis_address(address)
    return f"{host}:{port}"


def _parse_redis_address(address: str) -> tuple[str, int, dict[str, str]]:
    """(host, port, parameters as written) of a Redis address; FeatureStoreError if it is not one."""
    address = address.strip()
    usage = (
        f"the Redis address {_masked_address(address)!r} ({REDIS_URL_ENV}) is not "
        "host:port[,db=N][,password=...] nor redis://[:password@]host[:port][/db]"
    )
    if address.startswith(("redis://", "rediss://")):
        url = urlsplit(address)
        try:
            port = url.port or 6379
        except ValueError:
            raise FeatureStoreError(usage) from None
        if not url.hostname:
            raise FeatureStoreError(usage)
        params: dict[str, str] = {}
        database = url.path.strip("/")
        if database:
            if not database.isdigit():
                raise FeatureStoreError(usage)
            params["db"] = database
        if url.username:
            params["username"] = unquote(url.username)
        if url.password:
            params["password"] = unquote(url.password)
        if url.scheme == "rediss":
            params["ssl"] = "true"
        return url.hostname, port, params
    nodes = [part for part in address.split(",") if "=" not in part]
    if len(nodes) != 1 or not re.fullmatch(r"[^:\s]+:\d+", nodes[0].strip()):
        raise FeatureStoreError(usage)
    host, port = nodes[0].strip().rsplit(":", 1)
    params = dict(part.split("=", 1) for part in address.split(",") if "=" in part)
    return host, int(port), {key.strip(): value.strip() for key, value in params.items()}


def _masked_address(address: str) -> str:
    """`address` with any password masked, for the message about a malformed address."""
    address = re.sub(r"(password=)[^,]*", r"\1***", address)
    return re.sub(r"(rediss?://[^:/@]*:)[^@]*@", r"\1***@", address)


def _write_feature_store_yaml(workspace: Workspace) -> Path:
    """The workspace's settings as `<feature_store_dir>/feature_store.yaml` (owner-only: may hold a password)."""
    workspace.feature_store_dir.mkdir(parents=True, exist_ok=True)
    path = workspace.feature_store_dir / GENERATED_YAML_NAME
    text = (
        "# Written by scoring.feature_store.apply_feature_store from feature_repo/feature_store.yaml\n"
        "# and the workspace's online store; edit those, not this file. Use it with\n"
        f"#   feast -c {FEATURE_REPO_DIR} -f {path} <command>\n"
        + yaml.safe_dump(feature_store_settings(workspace), sort_keys=False)
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    return path


def apply_feature_store(workspace: Workspace) -> str:
    """Register `feature_repo/` in the workspace's Feast registry and create the online tables.

    Runs the real `feast apply` in a subprocess with the workspace's environment: the definition
    modules read PAYLOOM_FEATURES_DIR when imported, and a fresh process is the only way to import
    them again for another workspace. Returns Feast's output; a failure raises FeatureStoreError.
    """
    parquet_files = sorted(workspace.features_dir.glob("*.parquet")) if workspace.features_dir.is_dir() else []
    if not parquet_files:
        raise FeatureStoreError(
            f"no feature tables in {workspace.features_dir}: run `payloom build` (dbt writes them) for this workspace first"
        )
    feast = shutil.which("feast", path=str(Path(sys.executable).parent)) or shutil.which("feast")
    if feast is None:
        raise FeatureStoreError("the feast executable was not found next to this Python: run `make setup` (pip install -e .)")
    # Feast's apply does not touch Redis unless it deletes a view: check it now, not at materialisation.
    _require_online_store(workspace, "applying the feature repo")
    settings_file = _write_feature_store_yaml(workspace)
    process = subprocess.run(
        [feast, "--chdir", str(FEATURE_REPO_DIR), "--feature-store-yaml", str(settings_file), "apply"],
        env=workspace.feast_environment(),
        capture_output=True,
        text=True,
    )
    if process.returncode != 0:
        lines = process.stderr.strip().splitlines() or process.stdout.strip().splitlines() or ["(no output)"]
        if workspace.redis_address is not None and any("redis.exceptions." in line for line in lines):
            raise FeatureStoreError(
                _redis_failure_message(workspace, lines[-1], "applying the feature repo")
                + "\n" + "\n".join(lines[-30:])
            )
        raise FeatureStoreError(
            f"feast apply failed (exit {process.returncode}): {lines[-1]}\n" + "\n".join(lines[-30:])
        )
    return process.stdout


def open_feature_store(workspace: Workspace) -> "FeatureStore":
    """A Feast FeatureStore on the workspace's registry and online store (applied before).

    Hold on to it in a long-lived service: opening one reads the registry. Opening does not
    connect to Redis: a service starts while Redis is away, reads raise FeatureStoreError until it
    is back (see `online_store_health`), then work again on the same store.
    """
    from feast import FeatureStore, RepoConfig

    settings = feature_store_settings(workspace)
    registry = Path(settings["registry"])
    if not registry.is_file():
        raise FeatureStoreError(f"no Feast registry at {registry}: run apply_feature_store(workspace) first")
    config = RepoConfig(**settings)
    config.repo_path = FEATURE_REPO_DIR
    return FeatureStore(repo_path=str(FEATURE_REPO_DIR), config=config)


def materialize_feature_store(
    workspace: Workspace, start: datetime, end: datetime, *, reload: bool = False, views: Sequence[str] | None = None
) -> dict[str, tuple[datetime, datetime]]:
    """Copy the latest feature rows up to `end` into the online store; return each view's interval.

    A view never materialised gets `materialize(start, end)`: Feast's `materialize_incremental`
    would start at now - ttl and copy nothing from historical data. A view materialised before
    continues from where its last run ended (`materialize_incremental(end)`); `start` is then
    unused and a view already at or past `end` is left alone. Naive datetimes are UTC.

    `reload=True` runs `materialize(start, end)` for every view whatever the registry records:
    for an online store that lost its data (a Redis restarted without persistence) or that the
    workspace was pointed at after materialising elsewhere (the registry tracks runs, not stores).
    `views` limits the run to those feature views (default: every registered view).
    """
    start, end = _as_utc(start), _as_utc(end)
    if start >= end:
        raise FeatureStoreError(f"materialisation start {start.isoformat()} is not before end {end.isoformat()}")
    store = open_feature_store(workspace)
    registered = store.list_feature_views()
    if not registered:
        raise FeatureStoreError("the Feast registry has no feature view: run apply_feature_store(workspace) first")
    if views is not None:
        unknown = sorted(set(views) - {view.name for view in registered})
        if unknown:
            raise FeatureStoreError(
                f"no feature view {', '.join(unknown)} in the registry; it has {', '.join(sorted(view.name for view in registered))}"
            )
    views = [view for view in registered if views is None or view.name in views]
    _require_online_store(workspace, "materialising")
    intervals: dict[str, tuple[datetime, datetime]] = {}
    first_runs = [view.name for view in views if reload or view.most_recent_end_time is None]
    continued = {
        view.name: _as_utc(view.most_recent_end_time)
        for view in views
        if view.name not in first_runs and _as_utc(view.most_recent_end_time) < end
    }
    try:
        if first_runs:
            store.materialize(start, end, feature_views=first_runs)
            intervals.update({name: (start, end) for name in first_runs})
        if continued:
            store.materialize_incremental(end, feature_views=sorted(continued))
            intervals.update({name: (since, end) for name, since in continued.items()})
    except _redis_errors(workspace) as error:
        raise FeatureStoreError(_redis_failure_message(workspace, error, "materialising")) from None
    return intervals


def online_features(
    workspace: Workspace,
    service_name: str,
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    store: "FeatureStore | None" = None,
) -> list[dict[str, Any]]:
    """The online features of feature service `service_name`, one dict per entity row, in order.

    Keys are the entity keys, then `<feature view>__<feature>` in the service's order (views share
    feature names). An entity the online store does not know gets None values, not an error.
    Opening the store costs tens of milliseconds: a caller reading repeatedly passes `store`
    (from `open_feature_store(workspace)`), and a read then takes about a millisecond.
    """
    if store is None:
        store = open_feature_store(workspace)
    service, required, features = resolve_feature_service(store, service_name)
    rows = [dict(row) for row in entity_rows]
    # Feast's own error for a missing key lists every key of the project as missing.
    for index, row in enumerate(rows):
        missing = [key for key in required if key not in row]
        if missing:
            raise FeatureStoreError(
                f"feature service '{service_name}' needs entity keys {', '.join(required)}; "
                f"entity row {index} lacks {', '.join(missing)}"
            )
    try:
        response = store.get_online_features(features=service, entity_rows=rows, full_feature_names=True)
    except _redis_errors(workspace) as error:
        raise FeatureStoreError(_redis_failure_message(workspace, error, "reading online features")) from None
    columns = response.to_dict()
    # Feast returns features in an order of its own (not the service's, not stable across
    # processes): put the entity keys first, then the service's features in declared order.
    keys = [key for key in dict.fromkeys(key for row in rows for key in row) if key in columns]
    ordered = keys + features + [name for name in columns if name not in keys and name not in features]
    return [{name: columns[name][index] for name in ordered} for index in range(len(rows))]


#: Per open store: service name -> (service, its entity keys, its features in order). Resolving
#: a service from Feast's registry costs tens of milliseconds, a read about one.
_RESOLVED_SERVICES: "weakref.WeakKeyDictionary[FeatureStore, dict[str, tuple[Any, list[str], list[str]]]]" = weakref.WeakKeyDictionary()


def resolve_feature_service(store: "FeatureStore", service_name: str) -> tuple[Any, list[str], list[str]]:
    """The feature service, its entity keys and its full feature names, cached per store."""
    from feast.errors import FeatureServiceNotFoundException

    cache = _RESOLVED_SERVICES.setdefault(store, {})
    if service_name not in cache:
        try:
            service = store.get_feature_service(service_name)
        except FeatureServiceNotFoundException:
            known = ", ".join(sorted(s.name for s in store.list_feature_services())) or "none"
            raise FeatureStoreError(
                f"feature service '{service_name}' is not in the registry (known: {known}); "
                "add it to feature_repo/feature_services.py and run apply_feature_store(workspace)"
            ) from None
        required = list(dict.fromkeys(
            column.name
            for projection in service.feature_view_projections
            for column in store.get_feature_view(projection.name).entity_columns
        ))
        features = [
            f"{projection.name_to_use()}__{feature.name}"
            for projection in service.feature_view_projections
            for feature in projection.features
        ]
        cache[service_name] = (service, required, features)
    return cache[service_name]


def online_store_health(workspace: Workspace, *, timeout: float = 1.0) -> dict[str, Any]:
    """Whether the workspace's online store answers now, for a service's health endpoint.

    Returns {"online_store": "redis" | "sqlite", "address": host:port or the SQLite file,
    "ok": bool, "detail": str}. Redis gets a PING on a new connection (at most `timeout` seconds),
    so the answer follows Redis going away and coming back; SQLite must have its file with tables.
    Never raises for an unreachable store, and does not import Feast.
    """
    if workspace.redis_address is None:
        path = Path(feature_store_settings(workspace)["online_store"]["path"])
        report = {"online_store": "sqlite", "address": str(path)}
        if not path.is_file():
            return {**report, "ok": False, "detail": "no SQLite online store file: run apply_feature_store(workspace)"}
        try:
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=timeout)) as connection:
                tables = connection.execute("select count(*) from sqlite_master where type = 'table'").fetchone()[0]
        except sqlite3.Error as error:
            return {**report, "ok": False, "detail": f"{type(error).__name__}: {error}"}
        if tables == 0:
            return {**report, "ok": False, "detail": "the SQLite online store has no tables: run apply_feature_store(workspace)"}
        return {**report, "ok": True, "detail": f"{tables} tables"}

    import redis

    address = redis_display_address(workspace.redis_address)
    report = {"online_store": "redis", "address": address}
    client = redis.Redis(**_redis_client_arguments(workspace.redis_address, timeout))
    try:
        started = time.perf_counter()
        client.ping()
        elapsed = time.perf_counter() - started
        keys = client.dbsize()
    except redis.exceptions.RedisError as error:
        return {**report, "ok": False, "detail": f"{type(error).__name__}: {error}"}
    finally:
        client.close()
    empty = ": empty, materialise (reload=True if the registry says it is done)" if keys == 0 else ""
    return {**report, "ok": True, "detail": f"PING answered in {elapsed * 1000:.1f} ms; {keys} keys{empty}"}


def _redis_client_arguments(address: str, timeout: float) -> dict[str, Any]:
    """redis.Redis keyword arguments for a Redis address, as Feast builds them, with `timeout` and no retry."""
    host, port, params = _parse_redis_address(address)
    arguments: dict[str, Any] = {}
    for key, value in params.items():
        try:
            arguments[key] = json.loads(value)  # as Feast does: db=1 -> 1, ssl=true -> True
        except json.JSONDecodeError:
            arguments[key] = value
    if "password" in params:
        arguments["password"] = params["password"]  # a numeric password stays text
    return {
        **arguments,
        "host": host,
        "port": port,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": None,
    }


def _require_online_store(workspace: Workspace, action: str) -> None:
    """FeatureStoreError naming the address if the workspace's Redis does not answer (SQLite: nothing to check)."""
    if workspace.redis_address is None:
        return
    health = online_store_health(workspace, timeout=2.0)
    if not health["ok"]:
        raise FeatureStoreError(_redis_failure_message(workspace, health["detail"], action))


def _redis_errors(workspace: Workspace) -> tuple[type[BaseException], ...]:
    """The exceptions of redis-py to turn into FeatureStoreError; none for SQLite."""
    if workspace.redis_address is None:
        return ()
    import redis

    return (redis.exceptions.RedisError,)


def _redis_failure_message(workspace: Workspace, error: object, action: str) -> str:
    """What failed, where, and what to do, for a Redis error while `action`."""
    address = redis_display_address(workspace.redis_address)
    cause = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    if "Authentication" in cause or "NOAUTH" in cause or "WRONGPASS" in cause:
        return (
            f"the Redis online store at {address} refused the credentials while {action} ({cause}): "
            f"set the password in {REDIS_URL_ENV} (host:port,password=...)"
        )
    return (
        f"the Redis online store at {address} is unreachable while {action} ({cause}): start Redis there "
        f"or point {REDIS_URL_ENV} (Workspace.redis_address) at a running one; "
        f"{ONLINE_STORE_ENV}=sqlite serves from SQLite instead"
    )


def _as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
