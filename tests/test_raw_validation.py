"""A raw directory that breaks the contract's shape fails with an error naming table and column."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import raw_factory
from scoring import RawContractError, register_raw_tables


@pytest.fixture
def attempts():
    return raw_factory.random_payment_attempts(50, random_state=3)


def test_missing_required_table_names_it(tmp_path):
    with pytest.raises(RawContractError, match=r"raw table 'payment_attempts' is missing: expected .*payment_attempts/\*\.parquet"):
        register_raw_tables(duckdb.connect(), tmp_path)


def test_missing_directory_says_what_to_pass(tmp_path):
    with pytest.raises(RawContractError, match="does not exist: pass the folder that holds payment_attempts/"):
        register_raw_tables(duckdb.connect(), tmp_path / "nowhere")


def test_missing_column_names_table_and_column(tmp_path, attempts):
    raw_factory.write_table(tmp_path, "payment_attempts", attempts.drop(columns=["card_bin"]))
    with pytest.raises(RawContractError, match=r"raw table 'payment_attempts' .* has no column 'card_bin' \(contract type VARCHAR\)"):
        register_raw_tables(duckdb.connect(), tmp_path)


def test_wrong_type_names_table_column_and_types(tmp_path, attempts):
    raw_factory.write_table(tmp_path, "payment_attempts", attempts.assign(amount_minor=attempts.amount_minor.astype(str)))
    with pytest.raises(RawContractError, match=r"raw table 'payment_attempts' column 'amount_minor' has type VARCHAR, expected BIGINT"):
        register_raw_tables(duckdb.connect(), tmp_path)


def test_optional_table_with_wrong_type_is_refused_too(tmp_path, attempts):
    raw_factory.write_payment_attempts(tmp_path, attempts)
    folder = tmp_path / "customers"
    folder.mkdir()
    table = pa.table({name: pa.array(["x"]) for name in [
        "customer_id", "created_at", "birth_date", "annual_income_minor", "currency_code",
        "occupation", "credit_score", "country", "segment"]})
    pq.write_table(table, folder / "part-0.parquet")
    with pytest.raises(RawContractError, match=r"raw table 'customers' column 'created_at' has type VARCHAR, expected TIMESTAMP"):
        register_raw_tables(duckdb.connect(), tmp_path)


def test_compatible_narrower_types_extra_columns_and_csv_are_accepted(tmp_path, attempts):
    narrower = attempts.assign(amount_minor=attempts.amount_minor.astype("int32"), extra_column=1)
    raw_factory.write_table(tmp_path, "payment_attempts", narrower)
    (tmp_path / "offers.csv").write_text(
        "offer_id,customer_id,product,offered_at,contact_cost_minor,is_accepted,revenue_minor,currency_code\n"
        "o1,c1,loan,2025-01-02 10:00:00,500,true,12000,USD\n"
    )
    connection = duckdb.connect()
    registered = {table.name: table for table in register_raw_tables(connection, tmp_path)}
    assert registered["payment_attempts"].file_format == "parquet"
    assert registered["offers"].file_format == "csv"
    assert not registered["customers"].is_present
    assert connection.execute("select count(*) from raw.payment_attempts").fetchone()[0] == len(attempts)
    columns = [row[0] for row in connection.execute("describe raw.payment_attempts").fetchall()]
    assert "extra_column" not in columns and columns[-1] == "_source_file"
    assert connection.execute("select count(*) from raw.customers").fetchone()[0] == 0


def test_a_bad_directory_leaves_existing_views_alone(tmp_path, attempts):
    good, bad = tmp_path / "good", tmp_path / "bad"
    raw_factory.write_payment_attempts(good, attempts)
    raw_factory.write_table(bad, "payment_attempts", attempts.drop(columns=["gateway"]))
    connection = duckdb.connect()
    register_raw_tables(connection, good)
    with pytest.raises(RawContractError, match="no column 'gateway'"):
        register_raw_tables(connection, bad)
    assert connection.execute("select count(*) from raw.payment_attempts").fetchone()[0] == len(attempts)
