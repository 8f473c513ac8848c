"""Export a registered tree model as plain SQL (DuckDB or Spark), and install it into a DuckDB file.

The SQL needs nothing of payloom at run time, so a DuckDB CLI, a BI tool or a Spark job scores
with it. Each tree is one CASE expression (`scoring.sql_trees`: exact float32 comparisons,
NULL and NaN take the default branch); trees are summed in FLOAT, as XGBoost sums them (in
tree order within a part, then the parts onto the base score: float32 rounding may differ from
XGBoost's single chain by a few units in the last place, ~3e-7 on a 200-tree probability); then the model's postprocessor: P(positive) for a binary model, a
STRUCT with one probability per class name for a multiclass model (the shape of the UDF
`score_<model>`), the value for a regression.

DuckDB: persistent macros, written into the database file by `install_sql_macros`:

    score_<model>_sql(<features in manifest order>)        the score
    score_<model>_sql_part_<output>_<k>(<features>)        helpers: the sum of the trees of part k

The `_sql` suffix keeps the macro apart from the compiled UDF `score_<model>` that payloom's
Python registers on its own connections; both give the same scores. The trees are split into
parts of `trees_per_part` macros, so no statement is deep enough to reach a parser's limit. The
parts are added side by side, not nested as `part_2(part_1(...))`: DuckDB's binder took 42 s
for nested parts of a 200-tree model against 2-9 s side by side (it binds a macro's arguments
again at every level). Binding still costs seconds per query for large models (most of it
DuckDB's common-subexpression pass; `SET disabled_optimizers = 'common_subexpressions'` halves
it), and DuckDB evaluates nested CASE trees slowly: see bench/RESULTS.md.

Spark: one SELECT over a relation (`relation`, default `features`): an inner query with one
column per tree (Spark analyses many small expressions far faster than one large one), a middle
query that sums them per output, an outer one that applies the postprocessor into
`score_<model>`; `keep_columns` are passed through (key columns, say).

Spark functions (dialect `spark_function`): temporary SQL functions, so a Spark query calls the
model by the name and with the arguments of the DuckDB UDF, `score_<model>(<features>)`, with the
UDF's return type (DOUBLE, or STRUCT<class: DOUBLE, ...>); what `payloom build --target spark`
creates in dbt's SparkSession (`scoring.spark_score_functions`). As for DuckDB, the trees of each
output are split into part functions `score_<model>__part_<output>_<k>` (FLOAT) added side by
side, and a multiclass model's softmax is a function `score_<model>__classes` of the margins, so
each margin is written once. Every statement is a single line.

>>> import numpy as np, xgboost, tempfile, duckdb
>>> from scoring.model_publishing import publish_model
>>> rows = np.arange(40, dtype=float).reshape(-1, 2)
>>> booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(rows, label=rows[:, 0] > 19), 3)
>>> registry = tempfile.mkdtemp()
>>> _ = publish_model(registry, "toy", booster, [("a", "double"), ("b", "double")])
>>> connection = duckdb.connect()
>>> install_sql_macros(connection, registry, "toy").function_name
'score_toy_sql'
>>> score = connection.execute("select score_toy_sql(30.0, NULL)").fetchall()[0][0]
>>> abs(score - float(booster.predict(xgboost.DMatrix(np.array([[30.0, np.nan]])))[0])) < 1e-6
True
>>> "score_toy" in export_sql(registry, "toy", dialect="spark").script
True
>>> export_sql(registry, "toy", dialect="spark_function").statements[-1][:85]
'CREATE OR REPLACE TEMPORARY FUNCTION score_toy(`a` DOUBLE, `b` DOUBLE) RETURNS DOUBLE'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import duckdb
from sqlglot import exp

from scoring.errors import SqlExportError
from scoring.forest_tables import ForestTables, forest_tables
from scoring.sql_trees import double_literal, float_literal, tree_expression
from udfs.identifiers import check_model_name, quote_identifier, struct_of_doubles
from udfs.model_artifact import ModelArtifact
from udfs.model_registry import ModelRegistry

__all__ = ["SqlExport", "export_sql", "export_artifact_sql", "install_sql_macros", "sql_function_name", "SUPPORTED_DIALECTS", "TREES_PER_PART"]

SUPPORTED_DIALECTS = ("duckdb", "spark", "spark_function")
TREES_PER_PART = 20
"""Trees per DuckDB part macro; a part is a chain of this many additions of depth-deep CASEs."""


@dataclass(frozen=True)
class SqlExport:
    """The SQL of one model version for one dialect: statements to run in order."""

    model: str
    version: str
    dialect: str
    function_name: str
    statements: tuple[str, ...]

    @property
    def script(self) -> str:
        """All statements as one script, each ended by `;`."""
        header = f"-- model {self.model} {self.version} as {self.dialect} SQL, written by `payloom export-sql`; do not edit\n"
        return header + "".join(f"{statement};\n\n" for statement in self.statements)


def sql_function_name(model: str) -> str:
    """The DuckDB macro (or Spark column) an exported model scores with.

    >>> sql_function_name("issuer_decline")
    'score_issuer_decline_sql'
    """
    return f"score_{model}_sql"


def export_sql(
    registry: ModelRegistry | Path | str,
    model: str,
    *,
    dialect: str = "duckdb",
    version: str | None = None,
    relation: str = "features",
    keep_columns: Sequence[str] = (),
    trees_per_part: int = TREES_PER_PART,
) -> SqlExport:
    """The SQL of `model` (its promoted version, or `version`) from a model registry."""
    _check_dialect(dialect)
    registry = registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)
    return export_artifact_sql(
        registry.load(model, version), dialect=dialect, relation=relation, keep_columns=keep_columns, trees_per_part=trees_per_part
    )


def export_artifact_sql(
    artifact: ModelArtifact,
    *,
    dialect: str = "duckdb",
    relation: str = "features",
    keep_columns: Sequence[str] = (),
    trees_per_part: int = TREES_PER_PART,
) -> SqlExport:
    """The SQL of a loaded artifact (read from its Treelite checkpoint, `model.tl`)."""
    _check_dialect(dialect)
    if trees_per_part < 1:
        raise SqlExportError(f"trees_per_part must be at least 1, got {trees_per_part}")
    manifest = artifact.manifest
    check_model_name(manifest.name)
    trees, tables = _read_trees(artifact)
    features = [_feature_column(name) for name in manifest.feature_names]
    expressions = [tree_expression(tree["nodes"], features) for tree in trees]
    per_output = [[index for index, output in enumerate(tables.tree_output) if output == target] for target in range(tables.num_outputs)]
    name = sql_function_name(manifest.name)
    if dialect == "duckdb":
        statements = _duckdb_macros(name, manifest.feature_names, expressions, per_output, tables, _class_names(artifact, tables), trees_per_part)
    elif dialect == "spark_function":
        name = manifest.function_name
        statements = spark_functions(name, manifest.feature_names, expressions, per_output, tables, _class_names(artifact, tables), trees_per_part)
    else:
        statements = [_spark_query(name.removesuffix("_sql"), relation, keep_columns, expressions, per_output, tables, _class_names(artifact, tables))]
    return SqlExport(model=manifest.name, version=manifest.version, dialect=dialect, function_name=name, statements=tuple(statements))


def install_sql_macros(
    target: duckdb.DuckDBPyConnection | Path | str, registry: ModelRegistry | Path | str, model: str, *, version: str | None = None
) -> SqlExport:
    """Write the DuckDB macros of `model` into `target` (a connection or a database file), in one
    transaction: a later connection, without payloom, calls `score_<model>_sql(...)`."""
    export = export_sql(registry, model, dialect="duckdb", version=version)
    if isinstance(target, duckdb.DuckDBPyConnection):
        _run_in_transaction(target, export.statements)
        return export
    path = Path(target)
    if not path.parent.is_dir():
        raise SqlExportError(f"cannot install SQL macros into {path}: folder {path.parent} does not exist")
    try:
        with duckdb.connect(str(path)) as connection:
            _run_in_transaction(connection, export.statements)
    except duckdb.IOException as error:
        raise SqlExportError(f"cannot open {path} to install the macros of {model} (is another process using it?): {error}") from error
    return export


def _check_dialect(dialect: str) -> None:
    if dialect not in SUPPORTED_DIALECTS:
        raise SqlExportError(f"SQL dialect {dialect!r} is not supported; choose one of {', '.join(SUPPORTED_DIALECTS)}")


def _read_trees(artifact: ModelArtifact) -> tuple[list[dict], ForestTables]:
    import treelite

    checkpoint = artifact.directory / "model.tl"
    if not checkpoint.is_file():
        raise SqlExportError(f"{artifact.directory} has no Treelite checkpoint model.tl; re-publish the model to export it as SQL")
    model = treelite.Model.deserialize(str(checkpoint))
    return json.loads(model.dump_as_json())["trees"], forest_tables(model)


def _class_names(artifact: ModelArtifact, tables: ForestTables) -> list[str]:
    if tables.postprocessor != "softmax":
        return []
    names = artifact.manifest.class_names or [f"class_{index}" for index in range(tables.num_outputs)]
    if len(names) != tables.num_outputs:
        raise SqlExportError(f"{artifact.manifest.name}: the manifest names {len(names)} classes, the model has {tables.num_outputs} outputs")
    return names


def _run_in_transaction(connection: duckdb.DuckDBPyConnection, statements: Sequence[str]) -> None:
    connection.execute("begin transaction")
    try:
        for statement in statements:
            connection.execute(statement)
    except duckdb.Error:
        connection.execute("rollback")
        raise
    connection.execute("commit")


def _feature_column(name: str) -> exp.Column:
    """A column reference, always quoted: a feature may be a reserved word (`order`) or hold a quote."""
    return exp.column(exp.to_identifier(name, quoted=True))


def _added(start: exp.Expression, terms: Sequence[exp.Expression]) -> exp.Expression:
    """((start + t0) + t1) + ...: left to right, XGBoost's order."""
    total = start
    for term in terms:
        total = exp.Add(this=total, expression=exp.Paren(this=term))
    return total



def _margin_parts(prefix, feature_names, expressions, per_output, tables, trees_per_part, margins):
    """Yield (`<prefix><output>_<k>`, the sum of that part's trees) per part of `trees_per_part`
    trees; append to `margins`, per output, the base score plus a call of each of its parts."""
    arguments = [_feature_column(feature) for feature in feature_names]
    for target, tree_ids in enumerate(per_output):
        margin: exp.Expression = float_literal(tables.base_scores[target])
        for part, start in enumerate(range(0, len(tree_ids), trees_per_part)):
            part_name = f"{prefix}{target}_{part}"
            part_trees = [expressions[index] for index in tree_ids[start:start + trees_per_part]]
            yield part_name, _added(exp.Paren(this=part_trees[0]), part_trees[1:])
            margin = exp.Add(this=margin, expression=exp.Anonymous(this=part_name, expressions=[argument.copy() for argument in arguments]))
        margins.append(margin)

def _postprocessed(margins: list[exp.Expression], tables: ForestTables, class_names: list[str]) -> exp.Expression:
    """The score from FLOAT margins: a DOUBLE, or a STRUCT of class probabilities (softmax)."""
    as_double = [exp.cast(margin, exp.DataType.Type.DOUBLE) for margin in margins]
    if tables.postprocessor == "identity":
        return as_double[0]
    if tables.postprocessor == "exponential":
        return exp.Exp(this=as_double[0])
    if tables.postprocessor == "sigmoid":
        scaled = as_double[0] if tables.sigmoid_alpha == 1.0 else exp.Mul(this=double_literal(tables.sigmoid_alpha), expression=as_double[0])
        denominator = exp.Add(this=double_literal(1.0), expression=exp.Exp(this=exp.Neg(this=exp.Paren(this=scaled))))
        return exp.Div(this=double_literal(1.0), expression=exp.Paren(this=denominator))
    top = exp.Greatest(this=as_double[0], expressions=as_double[1:])
    exponentials = [exp.Exp(this=exp.Sub(this=margin, expression=top.copy())) for margin in as_double]
    total = exponentials[0].copy()
    for term in exponentials[1:]:
        total = exp.Add(this=total, expression=term.copy())
    return exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=exp.Div(this=term, expression=exp.Paren(this=total.copy())))
        for name, term in zip(class_names, exponentials)
    ])


def _duckdb_macros(name, feature_names, expressions, per_output, tables, class_names, trees_per_part) -> list[str]:
    parameters = [exp.to_identifier(feature, quoted=True) for feature in feature_names]
    statements, margins = [], []
    for part_name, body in _margin_parts(f"{name}_part_", feature_names, expressions, per_output, tables, trees_per_part, margins):
        statements.append(_create_macro(part_name, parameters, body))
    if len(margins) == 1:
        score = _postprocessed(margins, tables, class_names)
    else:
        # Bind the margins once (a one-element list and a lambda), so no macro call is expanded twice.
        bound = exp.Identifier(this="margins")
        inner = [exp.Anonymous(this="list_extract", expressions=[exp.column(bound.copy()), exp.Literal.number(index + 1)]) for index in range(len(margins))]
        lambda_ = exp.Lambda(this=_postprocessed(inner, tables, class_names), expressions=[bound])
        margin_list = exp.Array(expressions=[exp.Array(expressions=[exp.cast(margin, exp.DataType.Type.DOUBLE) for margin in margins])])
        score = exp.Anonymous(this="list_extract", expressions=[exp.Anonymous(this="list_transform", expressions=[margin_list, lambda_]), exp.Literal.number(1)])
    statements.append(_create_macro(name, parameters, score))
    return statements


def _create_macro(name: str, parameters: list[exp.Identifier], body: exp.Expression) -> str:
    signature = exp.UserDefinedFunction(this=exp.to_table(name), expressions=parameters, wrapped=True)
    return exp.Create(this=signature, kind="MACRO", replace=True, expression=body).sql("duckdb")


def spark_functions(name, feature_names, expressions, per_output, tables, class_names, trees_per_part) -> list[str]:
    """`CREATE OR REPLACE TEMPORARY FUNCTION` statements: the part functions, then `name` itself."""
    parameters = ", ".join(f"{quote_identifier(feature, 'spark')} DOUBLE" for feature in feature_names)
    statements, margins = [], []
    for part_name, body in _margin_parts(f"{name}__part_", feature_names, expressions, per_output, tables, trees_per_part, margins):
        statements.append(_spark_function(part_name, parameters, "FLOAT", body))
    if class_names:
        struct_type = struct_of_doubles(class_names, "spark")
        margin_names = [f"margin_{target}" for target in range(len(margins))]
        softmax = _postprocessed([exp.column(margin) for margin in margin_names], tables, class_names)
        statements.append(_spark_function(f"{name}__classes", ", ".join(f"{margin} DOUBLE" for margin in margin_names), struct_type, softmax))
        score: exp.Expression = exp.Anonymous(this=f"{name}__classes", expressions=[exp.cast(margin, exp.DataType.Type.DOUBLE) for margin in margins])
        return_type = struct_type
    else:
        score, return_type = _postprocessed(margins, tables, class_names), "DOUBLE"
    statements.append(_spark_function(name, parameters, return_type, score))
    return statements


def _spark_function(name: str, parameters: str, return_type: str, body: exp.Expression) -> str:
    return f"CREATE OR REPLACE TEMPORARY FUNCTION {name}({parameters}) RETURNS {return_type} RETURN {body.sql('spark')}"


def _spark_query(output_name, relation, keep_columns, expressions, per_output, tables, class_names) -> str:
    kept = [_feature_column(column) for column in keep_columns]
    tree_columns = [f"__payloom_tree_{index}" for index in range(len(expressions))]
    trees = exp.select(*[column.copy() for column in kept], *[exp.alias_(tree, column) for tree, column in zip(expressions, tree_columns)]).from_(
        exp.to_table(relation)
    )
    margin_columns = [f"__payloom_margin_{target}" for target in range(len(per_output))]
    margins = exp.select(
        *[column.copy() for column in kept],
        *[
            exp.alias_(_added(float_literal(tables.base_scores[target]), [exp.column(tree_columns[index]) for index in tree_ids]), margin_columns[target])
            for target, tree_ids in enumerate(per_output)
        ],
    ).from_(trees.subquery("trees"))
    score = _postprocessed([exp.column(column) for column in margin_columns], tables, class_names)
    query = exp.select(*[column.copy() for column in kept], exp.alias_(score, output_name)).from_(margins.subquery("margins"))
    return query.sql("spark")
