"""Names a caller hands to payloom's SQL — tables, views, schemas, columns, macro names — checked, then quoted.

Model, feature and class names follow `udfs.identifiers`; every other name that reaches SQL text
follows the same kind of rule, checked where it enters a public function (before anything is
created on the connection):

- a column, macro or view-prefix name: letters, digits and underscores, not starting with a digit,
  at most 128 characters (`udfs.identifiers.FEATURE_NAME_PATTERN`);
- a table or view name: one to three such parts joined by dots (`table`, `schema.table`,
  `catalog.schema.table`); a part may also hold `$`.

Reserved words (`order`, `select`) and mixed case are allowed: every name is quoted through
sqlglot (`udfs.identifiers.quote_identifier`), each part of a qualified name on its own. A name
outside the rule raises InvalidIdentifierError (or the subclass a caller names), saying what was
expected and what to do. String values (paths, policy names) go in as bound parameters or as
sqlglot string literals (`string_literal`), never pasted raw.

>>> relation_sql("decisions.Order")
'"decisions"."Order"'
>>> column_sql("order")
'"order"'
>>> relation_sql('x; drop table t; --')
Traceback (most recent call last):
...
scoring.errors.InvalidIdentifierError: table or view name 'x; drop table t; --' is not allowed: expected letters, digits and underscores (one to three parts joined by dots, e.g. 'bandit_log' or 'decisions.decision_log'); create a view with a plain name for anything else (connection.execute('create temp view my_log as select ...'))
>>> string_literal("/tmp/it's.parquet")
"'/tmp/it''s.parquet'"
"""

from __future__ import annotations

import re

from scoring.errors import InvalidIdentifierError
from udfs.identifiers import FEATURE_NAME_PATTERN, quote_identifier

__all__ = [
    "IDENTIFIER_PATTERN", "RELATION_NAME_PATTERN", "check_identifier", "check_relation_name", "column_sql", "relation_sql",
    "string_literal",
]

#: A column, macro or view-name prefix: the feature-name rule of `udfs.identifiers`.
IDENTIFIER_PATTERN = FEATURE_NAME_PATTERN
_PART = r"[A-Za-z_][A-Za-z0-9_$]{0,127}"
#: A table or view, optionally qualified by schema (and catalog).
RELATION_NAME_PATTERN = rf"^{_PART}(\.{_PART}){{0,2}}$"

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_RELATION = re.compile(RELATION_NAME_PATTERN)


def check_identifier(name: object, *, what: str = "column", error: type[InvalidIdentifierError] = InvalidIdentifierError) -> str:
    """`name` if it is a plain SQL identifier (IDENTIFIER_PATTERN); `error` otherwise.

    >>> check_identifier("Reward")
    'Reward'
    >>> check_identifier('a" or "1', what="reward column")
    Traceback (most recent call last):
    ...
    scoring.errors.InvalidIdentifierError: reward column name 'a" or "1' is not allowed: expected letters, digits and underscores matching ^[A-Za-z_][A-Za-z0-9_]{0,127}$ (it becomes a SQL identifier); rename it, or select it under such a name in a view
    """
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        raise error(f"{what} name {name!r} is not allowed: expected letters, digits and underscores matching {IDENTIFIER_PATTERN} "
                    "(it becomes a SQL identifier); rename it, or select it under such a name in a view")
    return name


def check_relation_name(name: object, *, what: str = "table or view",
                        error: type[InvalidIdentifierError] = InvalidIdentifierError) -> str:
    """`name` if it names a table or view, optionally schema-qualified (RELATION_NAME_PATTERN); `error` otherwise."""
    if not isinstance(name, str) or _RELATION.fullmatch(name) is None:
        raise error(f"{what} name {name!r} is not allowed: expected letters, digits and underscores (one to three parts "
                    "joined by dots, e.g. 'bandit_log' or 'decisions.decision_log'); create a view with a plain name for "
                    "anything else (connection.execute('create temp view my_log as select ...'))")
    return name


def column_sql(name: str, *, what: str = "column", dialect: str = "duckdb",
               error: type[InvalidIdentifierError] = InvalidIdentifierError) -> str:
    """`name`, checked (`check_identifier`), as a quoted identifier of `dialect`."""
    return quote_identifier(check_identifier(name, what=what, error=error), dialect)


def relation_sql(name: str, *, what: str = "table or view", dialect: str = "duckdb",
                 error: type[InvalidIdentifierError] = InvalidIdentifierError) -> str:
    """`name`, checked (`check_relation_name`), with each of its parts quoted for `dialect`.

    >>> relation_sql("analytics.bandit_log", dialect="spark")
    '`analytics`.`bandit_log`'
    """
    return ".".join(quote_identifier(part, dialect) for part in check_relation_name(name, what=what, error=error).split("."))


def string_literal(value: str, dialect: str = "duckdb") -> str:
    """`value` as a SQL string literal of `dialect` (quotes escaped by sqlglot), for SQL that cannot
    take a bound parameter (a view's definition, a macro's body, COPY ... TO)."""
    from sqlglot import exp

    return exp.Literal.string(str(value)).sql(dialect=dialect)
