"""Read a feature service straight from Feast's online store: one `online_read` per view.

`FeatureStore.get_online_features` spends about a millisecond per call on work a service that
asks the same question all day does not need: resolving the service, building request and
response protos, type checks, and `to_dict`. `ServiceReader` does that work once, when it is
made, and each `read` then

1. serialises each view's entity key with Feast's own `serialize_entity_key` (so the key bytes
   are exactly what `feast materialize` wrote),
2. reads the rows in one round trip: from a SQLite online store with one query over every
   view's table (Feast's layout: one row per entity key and feature, the value a serialised
   `ValueProto`, the event time in epoch seconds), on a read-only connection per thread; from
   Redis with one pipeline of HMGETs over every view, built and decoded by Feast's own Redis
   store helpers (Feast's `online_read` sends one pipeline per view); from any other store
   with its `online_read` per view;
3. turns the `ValueProto`s into Python scalars.

The values are the ones `get_online_features(..., full_feature_names=True)` returns, keyed
`<view>__<feature>`, and each view comes with the event timestamp of its row (None when the
store has no row for the entity): `tests/feast/test_online_reads.py` checks both against Feast.

Thread safety: each thread gets its own SQLite connection; Redis reads go through Feast's
client, which is thread-safe.

The SQLite layout and `online_read` are Feast internals rather than `FeatureStore` API; payloom
pins Feast exactly (pyproject.toml), and the parity test guards an upgrade.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from scoring.errors import FeatureStoreError
from scoring.feature_store import resolve_feature_service
from udfs.identifiers import quote_identifier

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["OnlineRead", "ServiceReader", "view_freshness"]


@dataclass
class OnlineRead:
    """One entity's row of a feature service: values by `<view>__<feature>` (None = no value) and,
    per view, the event time of the row read (naive UTC; None = the store has no row)."""

    values: dict[str, Any]
    event_times: dict[str, datetime | None]


def view_freshness(event_time: datetime | None, at: datetime, ttl_seconds: float | None) -> dict[str, Any]:
    """How fresh a view's row (event time `event_time`, naive UTC; None = no row) is at instant `at`.

    >>> entry = view_freshness(datetime(2025, 3, 1), datetime(2025, 3, 2), 3600.0)
    >>> entry["age_seconds"], entry["stale"], entry["found"]
    (86400.0, True, True)
    >>> view_freshness(None, datetime(2025, 3, 2), None)["found"]
    False
    """
    age = (at - event_time).total_seconds() if event_time is not None else None
    return {
        "found": event_time is not None,
        "event_timestamp": event_time.isoformat() + "Z" if event_time is not None else None,
        "age_seconds": age,
        "ttl_seconds": ttl_seconds,
        "stale": age is not None and ttl_seconds is not None and age > ttl_seconds,
        # A row newer than `at`: the store is ahead of a replayed request's instant.
        "newer_than_attempt": age is not None and age < 0,
    }


@dataclass(frozen=True)
class _ViewRead:
    view: Any  # feast.FeatureView, as registered
    table: str  # its SQLite online-store table
    name: str  # the name the service uses for it (projection alias or view name)
    request_keys: tuple[str, ...]  # entity-row keys, in the view's join-key order
    join_keys: tuple[str, ...]
    key_encoders: tuple[Any, ...]  # one function value -> ValueProto per join key
    features: tuple[str, ...]
    full_names: tuple[str, ...]


def _value_encoder(value_type: Any) -> Any:
    """value -> ValueProto for an entity key of `value_type` (Feast's own conversion for the rare types)."""
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType

    if value_type == ValueType.STRING:
        return lambda value: ValueProto(string_val=str(value))
    if value_type == ValueType.INT64:
        return lambda value: ValueProto(int64_val=int(value))
    if value_type == ValueType.INT32:
        return lambda value: ValueProto(int32_val=int(value))
    return lambda value: python_values_to_proto_values([value], value_type)[0]


_EPOCH = datetime(1970, 1, 1)
_MISSING = object()
#: Distinct serialised values kept decoded (a few MB at most); the cache restarts when full.
_DECODED_CACHE_LIMIT = 200_000
_SCALAR_KINDS = frozenset({
    "int32_val", "int64_val", "float_val", "double_val", "string_val", "bytes_val", "bool_val", "unix_timestamp_val",
})


def _python_value(proto: Any) -> Any:
    """A ValueProto's Python value (None for null or unset; lists for list types)."""
    kind = proto.WhichOneof("val")
    if kind in _SCALAR_KINDS:
        return getattr(proto, kind)
    if kind is None or kind == "null_val":
        return None
    value = getattr(proto, kind)
    return list(value.val) if kind.endswith("_list_val") else value


class ServiceReader:
    """Reads feature service `service_name` of `store` for entity rows (module docstring).

    Raises FeatureStoreError when the service is not registered. An entity row lacking one of
    the service's join keys raises FeatureStoreError naming it.
    """

    def __init__(self, store: "FeatureStore", service_name: str):
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.infra.online_stores.helpers import compute_table_id
        from feast.protos.feast.types.Value_pb2 import Value as ValueProto

        service, self.entity_keys, self.feature_names = resolve_feature_service(store, service_name)
        self.service_name = service_name
        self._config = store.config
        self._online_store = store._get_provider().online_store
        self._serialize = serialize_entity_key
        self._key_version = store.config.entity_key_serialization_version
        self._views: list[_ViewRead] = []
        for projection in service.feature_view_projections:
            view = store.get_feature_view(projection.name)
            join_keys = tuple(column.name for column in view.entity_columns)
            name = projection.name_to_use()
            features = tuple(feature.name for feature in projection.features)
            self._views.append(_ViewRead(
                view=view,
                table=compute_table_id(store.config.project, view, store.config.registry.enable_online_feature_view_versioning),
                name=name,
                request_keys=tuple(projection.join_key_map.get(key, key) for key in join_keys),
                join_keys=join_keys,
                key_encoders=tuple(_value_encoder(column.dtype.to_value_type()) for column in view.entity_columns),
                features=features,
                full_names=tuple(f"{name}__{feature}" for feature in features),
            ))
        self._parse_value = ValueProto.FromString
        self._sqlite_path: str | None = None
        if type(self._online_store).__name__ == "SqliteOnlineStore":
            self._sqlite_path = str(self._online_store._get_db_path(store.config))
        self._connections = threading.local()
        # Redis: every view's HMGETs go in one pipeline (Feast's online_read sends one per view).
        self._redis_fields: list[tuple[str, list[str], list[Any]]] | None = None
        if type(self._online_store).__name__ == "RedisOnlineStore":
            from feast.infra.online_stores.redis import _versioned_fv_name

            self._redis_fields = []
            for view in self._views:
                stored_name = _versioned_fv_name(view.view, store.config)
                names, fields = self._online_store._generate_hset_keys_for_features(
                    view.view, list(view.features), fv_name_override=stored_name
                )
                self._redis_fields.append((stored_name, names, fields))
        self._feature_sets = [frozenset(view.features) for view in self._views]
        # Serialised value -> Python value: counts, flags and segment rates repeat across reads.
        self._decoded: dict[bytes, Any] = {}
        self._cached_key = functools.lru_cache(maxsize=65536)(self._serialized_key)

    @property
    def view_names(self) -> list[str]:
        """The service's views, as it names them, in order."""
        return [view.name for view in self._views]

    def _entity_key(self, view_index: int, row: Mapping[str, Any]) -> bytes:
        """The serialised entity key of `row` for view `view_index` (cached: segment keys repeat)."""
        view = self._views[view_index]
        try:
            values = tuple(row[key] for key in view.request_keys)
        except KeyError as error:
            raise FeatureStoreError(
                f"entity row lacks '{error.args[0]}': feature service {self.service_name} needs {', '.join(self.entity_keys)}"
            ) from None
        return self._cached_key(view_index, values)

    def _serialized_key(self, view_index: int, values: tuple[Any, ...]) -> bytes:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto

        view = self._views[view_index]
        protos = [encode(value) for encode, value in zip(view.key_encoders, values)]
        return self._serialize(EntityKeyProto(join_keys=list(view.join_keys), entity_values=protos), self._key_version)

    def _view_indexes(self, views: Sequence[str] | None) -> list[int]:
        if views is None:
            return list(range(len(self._views)))
        unknown = [name for name in views if name not in self.view_names]
        if unknown:
            raise FeatureStoreError(
                f"feature service {self.service_name} has no view {', '.join(unknown)}; it has {', '.join(self.view_names)}"
            )
        return [index for index, view in enumerate(self._views) if view.name in views]

    def read(self, row: Mapping[str, Any]) -> OnlineRead:
        """The service's features for one entity row (join key -> value)."""
        return self.read_many([row])[0]

    def read_many(self, rows: Sequence[Mapping[str, Any]], *, views: Sequence[str] | None = None) -> list[OnlineRead]:
        """The service's features for each entity row, in order.

        `views` limits the read to some of the service's views (by the names it uses for them);
        the rows then need only those views' join keys.
        """
        indexes = self._view_indexes(views)
        return self._read([(row, indexes) for row in rows])

    def read_requests(self, requests: Sequence[tuple[Mapping[str, Any], Sequence[str] | None]]) -> list[OnlineRead]:
        """One read for several (entity row, views) requests (None = every view), in order.

        For a decision that also asks "what if this key were different" (another gateway): the
        row with every view, and its variants with only the view that key belongs to.
        """
        return self._read([(row, self._view_indexes(views)) for row, views in requests])

    def _read(self, requests: list[tuple[Mapping[str, Any], list[int]]]) -> list[OnlineRead]:
        keys = [{index: self._entity_key(index, row) for index in indexes} for row, indexes in requests]
        unique: list[dict[bytes, None]] = [{} for _ in self._views]
        for request_keys in keys:
            for index, key in request_keys.items():
                unique[index][key] = None
        wanted = [list(view_keys) for view_keys in unique]
        if self._sqlite_path is not None:
            answers = self._read_sqlite(wanted)
        elif self._redis_fields is not None:
            answers = self._read_redis(wanted)
        else:
            answers = self._read_store(wanted)
        reads = []
        for request_keys in keys:
            read = OnlineRead(values={}, event_times={})
            for index, key in request_keys.items():
                view = self._views[index]
                event_time, values = answers[index].get(key, (None, {}))
                for feature, full_name in zip(view.features, view.full_names):
                    read.values[full_name] = values.get(feature)
                read.event_times[view.name] = event_time if values else None
            reads.append(read)
        return reads

    def _read_store(self, wanted: list[list[bytes]]) -> list[dict[bytes, tuple[datetime | None, dict[str, Any]]]]:
        """Per view: entity key -> (event time, feature -> value), via the store's own online_read."""
        from feast.infra.key_encoding_utils import deserialize_entity_key

        answers: list[dict[bytes, tuple[datetime | None, dict[str, Any]]]] = []
        for view, keys in zip(self._views, wanted):
            found: dict[bytes, tuple[datetime | None, dict[str, Any]]] = {}
            if keys:
                protos = [deserialize_entity_key(key, self._key_version) for key in keys]
                for key, (event_time, values) in zip(keys, self._online_store.online_read(self._config, view.view, protos, list(view.features))):
                    if event_time is not None and event_time.tzinfo is not None:
                        event_time = event_time.astimezone(timezone.utc).replace(tzinfo=None)
                    python_values = {name: _python_value(proto) for name, proto in (values or {}).items()}
                    # Redis answers an absent entity with empty values at epoch 0, not "no row".
                    if event_time is not None and (event_time != _EPOCH or any(value is not None for value in python_values.values())):
                        found[key] = (event_time, python_values)
            answers.append(found)
        return answers

    def _read_redis(self, wanted: list[list[bytes]]) -> list[dict[bytes, tuple[datetime | None, dict[str, Any]]]]:
        """Per view: entity key -> (event time, feature -> value), in one Redis pipeline (Feast's layout:
        a hash per entity key + project, a field per murmur3 of `view:feature`, `_ts:view` the event time)."""
        project = self._config.project.encode("utf-8")
        commands = [
            (key + project, self._redis_fields[index][2]) for index, keys in enumerate(wanted) for key in keys
        ]
        try:
            replies = iter(self._online_store._read_hash_fields(self._config, commands) if commands else [])
        except Exception as error:
            import redis

            if not isinstance(error, redis.exceptions.RedisError):
                raise
            address = str(self._config.online_store.connection_string).split(",")[0]  # host:port, never the password
            raise FeatureStoreError(
                f"the Redis online store at {address} is unreachable while reading feature service {self.service_name} "
                f"({type(error).__name__}: {error}): start Redis there or point PAYLOOM_REDIS_URL at a running one; "
                "after a restart without persistence, materialise again with reload=True"
            ) from error
        answers: list[dict[bytes, tuple[datetime | None, dict[str, Any]]]] = []
        for index, keys in enumerate(wanted):
            stored_name, names, _ = self._redis_fields[index]
            found: dict[bytes, tuple[datetime | None, dict[str, Any]]] = {}
            for key in keys:
                values = next(replies)
                if values[-1] is None:  # no `_ts:<view>` field: the store has no row for this entity
                    continue
                event_time, protos = self._online_store._get_features_for_entity(values, stored_name, list(names))
                event_time = event_time.astimezone(timezone.utc).replace(tzinfo=None)
                found[key] = (event_time, {name: _python_value(proto) for name, proto in protos.items()})
            answers.append(found)
        return answers

    def _sqlite_connection(self) -> sqlite3.Connection:
        connection = getattr(self._connections, "sqlite", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{self._sqlite_path}?mode=ro", uri=True, check_same_thread=False)
            self._connections.sqlite = connection
        return connection

    def _read_sqlite(self, wanted: list[list[bytes]]) -> list[dict[bytes, tuple[datetime | None, dict[str, Any]]]]:
        """Per view: entity key -> (event time, feature -> value), in one query over the views' tables."""
        parts, parameters = [], []
        for index, keys in enumerate(wanted):
            if keys:
                marks = ", ".join("?" * len(keys))
                parts.append(f"select {index}, entity_key, feature_name, value, event_ts from {quote_identifier(self._views[index].table, 'sqlite')} "
                             f"where entity_key in ({marks})")
                parameters += keys
        try:
            rows = self._sqlite_connection().execute(" union all ".join(parts), parameters).fetchall()
        except sqlite3.Error as error:
            raise FeatureStoreError(
                f"cannot read the SQLite online store {self._sqlite_path}: {error}; run apply_feature_store and "
                "materialize_feature_store for this workspace"
            ) from error
        epochs: list[dict[bytes, int]] = [{} for _ in wanted]
        values: list[dict[bytes, dict[str, Any]]] = [{} for _ in wanted]
        features = self._feature_sets
        decoded = self._decoded
        if len(decoded) > _DECODED_CACHE_LIMIT:
            decoded.clear()
        for index, entity_key, feature, blob, epoch in rows:
            if feature in features[index]:
                value = decoded.get(blob, _MISSING)
                if value is _MISSING:
                    value = _python_value(self._parse_value(blob))
                    if not isinstance(value, list):  # lists are mutable: never shared between reads
                        decoded[blob] = value
                values[index].setdefault(entity_key, {})[feature] = value
                if epoch > epochs[index].get(entity_key, -1):
                    epochs[index][entity_key] = epoch
        return [
            {
                key: (datetime.fromtimestamp(view_epochs[key], tz=timezone.utc).replace(tzinfo=None), view_values[key])
                for key in view_values
            }
            for view_epochs, view_values in zip(epochs, values)
        ]
