"""The written files are the raw data contract: names, types, nullability and value rules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from payloom_sim import CURRENCIES, GATEWAYS, OPTIMIZATIONS, PRODUCT_NAMES, RAW_SCHEMAS, TRUTH_SCHEMAS, simulate
from payloom_sim.schemas import decoded


def digests(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = simulate(tmp_path / "a", attempts=20_000, seed=11, days=20, dirty_fraction=0.002).out_dir
    second = simulate(tmp_path / "b", attempts=20_000, seed=11, days=20, dirty_fraction=0.002).out_dir
    third = simulate(tmp_path / "c", attempts=20_000, seed=12, days=20, dirty_fraction=0.002).out_dir
    same, other = digests(first), digests(third)
    assert same == digests(second)  # every Parquet file and the manifest
    assert len([name for name in same if name.endswith(".parquet")]) == len(RAW_SCHEMAS) + len(TRUTH_SCHEMAS)
    for name in same:
        if name.endswith(".parquet"):
            assert same[name] != other[name], name


def test_schemas_are_exactly_the_contract(world_dir: Path) -> None:
    for table, schema in RAW_SCHEMAS.items():
        parts = sorted((world_dir / table).glob("part-*.parquet"))
        assert parts and parts[0].name == "part-00000.parquet"
        for part in parts:
            assert pq.read_schema(part) == schema, (table, part.name)
    for name, schema in TRUTH_SCHEMAS.items():
        assert pq.read_schema(next((world_dir / "_truth" / name).glob("*.parquet"))) == decoded(schema)


def test_duckdb_reads_the_contract_types(world_dir: Path, sql) -> None:
    types = {row[0]: row[1] for row in sql(world_dir).execute("describe payment_attempts").fetchall()}
    assert types["attempted_at"] == "TIMESTAMP" and types["card_expires_on"] == "DATE"
    assert types["amount_minor"] == "BIGINT" and types["gateway"] == "VARCHAR" and types["is_approved"] == "BOOLEAN"
    assert {row[0]: row[1] for row in sql(world_dir).execute("describe customers").fetchall()}["credit_score"] == "INTEGER"


def test_payment_attempt_invariants(world_dir: Path, sql) -> None:
    db = sql(world_dir)
    currencies = ", ".join(f"'{code}'" for code in CURRENCIES)
    violations = db.execute(f"""
        select count(*) - count(distinct attempt_id),
               count(*) filter (where amount_minor < 0),
               count(*) filter (where (decline_code is null) != is_approved),
               count(*) filter (where decision_propensity <= 0 or decision_propensity > 1),
               count(*) filter (where card_expires_on != last_day(card_expires_on)),
               count(*) filter (where currency_code not in ({currencies})),
               count(*) filter (where not regexp_full_match(card_bin, '[0-9]{{6}}')),
               count(*) filter (where not regexp_full_match(merchant_category, '[0-9]{{4}}')),
               count(*) filter (where not regexp_full_match(issuer_country, '[A-Z]{{2}}')),
               count(*) filter (where card_network not in ('visa', 'mastercard', 'amex', 'discover')),
               count(*) filter (where card_type not in ('credit', 'debit', 'prepaid')),
               count(*) filter (where transaction_type not in ('one_off', 'recurring', 'subscription_renewal')),
               count(*) filter (where attempted_at < '2025-01-01' or attempted_at >= '2025-04-01'),
               count(*) filter (where card_id is null or customer_id is null or merchant_id is null or payment_id is null)
        from payment_attempts""").fetchone()
    assert list(violations) == [0] * len(violations)
    codes = {row[0] for row in db.execute("select distinct decline_code from payment_attempts where decline_code is not null").fetchall()}
    assert codes == {"insufficient_funds", "do_not_honor", "hard_decline", "authentication_required", "technical"}
    assert {row[0] for row in db.execute("select distinct gateway from payment_attempts").fetchall()} == set(GATEWAYS)
    for (value,) in db.execute("select distinct optimization from payment_attempts").fetchall():
        parts = value.split("+")
        assert value == "none" or (parts == sorted(parts) and set(parts) <= set(OPTIMIZATIONS) and len(set(parts)) == len(parts)), value
    null_share, retried = db.execute("""
        select avg((decision_propensity is null)::int), count(*) - count(distinct payment_id) from payment_attempts""").fetchone()
    assert 0.003 < null_share < 0.03 and retried > 0
    ordered = db.execute("select count(*) from (select attempted_at < lag(attempted_at) over () as back from payment_attempts) where back").fetchone()[0]
    assert ordered == 0  # streamed in time order


def test_retries_follow_soft_declines_only(world_dir: Path, sql) -> None:
    first_failures = sql(world_dir).execute("""
        with ranked as (select *, row_number() over (partition by payment_id order by attempted_at) as k from payment_attempts)
        select distinct previous.decline_code
        from ranked as retry join ranked as previous on previous.payment_id = retry.payment_id and previous.k = retry.k - 1""").fetchall()
    assert {row[0] for row in first_failures} <= {"insufficient_funds", "do_not_honor", "technical"}


def test_customer_side_invariants(world_dir: Path, sql) -> None:
    db = sql(world_dir)
    customers, unique, bad_score, bad_birth = db.execute("""
        select count(*), count(distinct customer_id), count(*) filter (where credit_score not between 300 and 900),
               count(*) filter (where (birth_date is null) != (segment != 'consumer')) from customers""").fetchone()
    assert customers == unique and bad_score == bad_birth == 0
    assert {row[0] for row in db.execute("select distinct segment from customers").fetchall()} == {"consumer", "small_business", "enterprise"}
    orphans = db.execute("""
        select (select count(*) from payment_attempts where customer_id not in (select customer_id from customers))
             + (select count(*) from product_holdings where customer_id not in (select customer_id from customers))
             + (select count(*) from interactions where customer_id not in (select customer_id from customers))""").fetchone()[0]
    assert orphans == 0
    products = ", ".join(f"'{name}'" for name in PRODUCT_NAMES)
    bad_offers = db.execute(f"""
        select count(*) filter (where product not in ({products})) + count(*) filter (where not is_accepted and revenue_minor != 0)
             + count(*) filter (where is_accepted and revenue_minor <= 0) + count(*) filter (where contact_cost_minor <= 0)
             + count(*) - count(distinct offer_id)
        from offers""").fetchone()[0]
    assert bad_offers == 0
    assert db.execute("select count(*) from product_holdings where closed_at < opened_at").fetchone()[0] == 0
    business_only = db.execute("""
        select count(*) from product_holdings join customers using (customer_id)
        where segment = 'consumer' and product in ('working_capital', 'merchant_cash_advance', 'business_credit_card')""").fetchone()[0]
    assert business_only == 0


def test_manifest_lists_the_world(world_dir: Path, sql) -> None:
    manifest = json.loads((world_dir / "_manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["days"] == 90 and manifest["dirty_rows"]["payment_attempts"]["duplicate_attempt_id"] == 0
    assert manifest["gateways"] == list(GATEWAYS) and manifest["products"] == list(PRODUCT_NAMES) and manifest["currencies"] == list(CURRENCIES)
    db = sql(world_dir)
    for table, rows in manifest["rows"].items():
        assert db.execute(f"select count(*) from {table}").fetchone()[0] == rows, table
    assert 198_000 < manifest["rows"]["payment_attempts"] < 202_000
