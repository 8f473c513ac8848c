"""payloom's one rule for the names that become SQL identifiers or registry paths, and their quoting.

A model name becomes a folder of the registry and part of SQL function names
(`score_<model>`, `decline_action_<model>`); a feature name becomes a SQL column reference and
a function parameter; a class name becomes a STRUCT field. So:

- model names:   `^[a-z][a-z0-9_]{0,62}$` (lower_snake_case, at most 63 characters);
- feature and class names: `^[A-Za-z_][A-Za-z0-9_]{0,127}$` (letters, digits, underscores;
  SQL reserved words such as `order` are allowed: every generator quotes them), unique
  ignoring case (DuckDB and Spark match column names without case);
- versions:      `^v[0-9]{4,9}$` (`v0001`, as `ModelRegistry.next_version` numbers them);
- feature types: a lowercase SQL type name as DuckDB reports it (`double`, `bigint`, `decimal(18,3)`).

They are checked when a model is published and again when it is loaded, so nothing outside
them reaches SQL text or a path. Independently of the check, every generator quotes feature and
class names through sqlglot (`quote_identifier`), so a name is never pasted raw into SQL.

>>> check_model_name("issuer_decline")
'issuer_decline'
>>> check_model_name("../../x")
Traceback (most recent call last):
...
udfs.errors.InvalidNameError: model name '../../x' is not allowed: expected lower_snake_case matching ^[a-z][a-z0-9_]{0,62}$ (it becomes a registry folder and SQL function score_<name>); rename the model
>>> check_feature_name("x) ; create table pwned as select 1; --")
Traceback (most recent call last):
...
udfs.errors.InvalidNameError: feature name 'x) ; create table pwned as select 1; --' is not allowed: expected letters, digits and underscores matching ^[A-Za-z_][A-Za-z0-9_]{0,127}$ (it becomes a SQL identifier); rename the column
>>> quote_identifier("order", "duckdb"), quote_identifier("order", "spark")
('"order"', '`order`')
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from udfs.errors import InvalidNameError

__all__ = [
    "MODEL_NAME_PATTERN", "FEATURE_NAME_PATTERN", "VERSION_PATTERN", "SQL_TYPE_PATTERN", "check_model_name", "check_feature_name",
    "check_version", "check_sql_type", "check_features", "check_class_names", "quote_identifier", "struct_of_doubles",
]

MODEL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
FEATURE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
VERSION_PATTERN = r"^v[0-9]{4,9}$"
SQL_TYPE_PATTERN = r"^[a-z][a-z0-9_ ]{0,62}(\([0-9, ]{1,20}\))?$"

_MODEL_NAME = re.compile(MODEL_NAME_PATTERN)
_FEATURE_NAME = re.compile(FEATURE_NAME_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_SQL_TYPE = re.compile(SQL_TYPE_PATTERN)


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    # fullmatch, not match: `$` alone would accept a trailing newline.
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def check_model_name(name: object) -> str:
    """`name` if it is a valid model name; InvalidNameError otherwise."""
    if not _matches(_MODEL_NAME, name):
        raise InvalidNameError(
            f"model name {name!r} is not allowed: expected lower_snake_case matching {MODEL_NAME_PATTERN} "
            "(it becomes a registry folder and SQL function score_<name>); rename the model"
        )
    return name  # type: ignore[return-value]


def check_feature_name(name: object, *, what: str = "feature") -> str:
    """`name` if it is a valid feature (or, with `what="class"`, class) name; InvalidNameError otherwise."""
    if not _matches(_FEATURE_NAME, name):
        fix = "rename the column" if what == "feature" else f"rename the {what}"
        raise InvalidNameError(
            f"{what} name {name!r} is not allowed: expected letters, digits and underscores matching "
            f"{FEATURE_NAME_PATTERN} (it becomes a SQL identifier); {fix}"
        )
    return name  # type: ignore[return-value]


def check_version(version: object) -> str:
    """`version` if it names a registry version (`v0001`); InvalidNameError otherwise.

    >>> check_version("v0002")
    'v0002'
    >>> check_version("../../../x")
    Traceback (most recent call last):
    ...
    udfs.errors.InvalidNameError: model version '../../../x' is not allowed: expected v followed by 4 to 9 digits (v0001), the name of a folder under <model>/versions
    """
    if not _matches(_VERSION, version):
        raise InvalidNameError(
            f"model version {version!r} is not allowed: expected v followed by 4 to 9 digits (v0001), "
            "the name of a folder under <model>/versions"
        )
    return version  # type: ignore[return-value]


def check_sql_type(data_type: object, feature: str) -> str:
    """`data_type` if it reads as a lowercase SQL type name; InvalidNameError otherwise.

    >>> check_sql_type("decimal(18,3)", "amount")
    'decimal(18,3)'
    """
    if not _matches(_SQL_TYPE, data_type):
        raise InvalidNameError(
            f"feature {feature!r} has type {data_type!r}; expected a lowercase SQL type name matching {SQL_TYPE_PATTERN} "
            "(double, bigint, decimal(18,3), ...)"
        )
    return data_type  # type: ignore[return-value]


def _check_unique(names: Sequence[str], what: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        if name.lower() in seen:
            raise InvalidNameError(
                f"{what} names {seen[name.lower()]!r} and {name!r} are the same to SQL (names ignore case); "
                f"give every {what} a distinct name"
            )
        seen[name.lower()] = name


def check_features(features: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, SQL type) pairs, checked: at least one, valid and distinct names, valid types.

    >>> check_features([("amount", "double"), ("AMOUNT", "bigint")])
    Traceback (most recent call last):
    ...
    udfs.errors.InvalidNameError: feature names 'amount' and 'AMOUNT' are the same to SQL (names ignore case); give every feature a distinct name
    """
    checked = []
    for pair in features:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InvalidNameError(f"a feature must be a (name, SQL type) pair, got {pair!r}")
        name, data_type = pair
        checked.append((check_feature_name(name), check_sql_type(data_type, name)))
    if not checked:
        raise InvalidNameError("a model needs at least one feature; none was given")
    _check_unique([name for name, _ in checked], "feature")
    return checked


def check_class_names(classes: Iterable[str]) -> list[str]:
    """Class names, checked like feature names (each becomes a STRUCT field of the score)."""
    checked = [check_feature_name(name, what="class") for name in classes]
    _check_unique(checked, "class")
    return checked


def quote_identifier(name: str, dialect: str) -> str:
    """`name` as a quoted SQL identifier of `dialect` (sqlglot escapes any quote inside it).

    >>> quote_identifier('we"ird', "duckdb"), quote_identifier("we`ird", "spark")
    ('"we""ird"', '`we``ird`')
    """
    from sqlglot import exp

    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def struct_of_doubles(names: Sequence[str], dialect: str) -> str:
    """The SQL type of a STRUCT with one DOUBLE field per name (a multiclass score), quoted for `dialect`.

    >>> struct_of_doubles(["approved", "order"], "spark")
    'STRUCT<`approved`: DOUBLE, `order`: DOUBLE>'
    """
    from sqlglot import exp

    fields = [exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=exp.DataType.build("DOUBLE")) for name in names]
    return exp.DataType(this=exp.DataType.Type.STRUCT, expressions=fields, nested=True).sql(dialect=dialect)
