"""Off-policy evaluation of a log from outside payloom: a small file in the Open Bandit Dataset's CSV format."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from scoring.errors import ExcludedRowsWarning, PolicyEvaluationError
from scoring.off_policy import LogColumns, evaluate_policy
from scoring.open_bandit import register_open_bandit_log

# OBD's header (obp/dataset/obd/random/men/men.csv): an unnamed index column first.
HEADER = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user-item_affinity_0,user-item_affinity_1,user-item_affinity_2"
# Three items shown uniformly at random (propensity 1/3 per position); the last row lost its propensity.
LINES = [
    "0,2019-11-24 00:03:13.442536+00:00,0,1,1,0.3333333333333333,cef3390e,03a5648a,0.0,1.0,0.0",
    "1,2019-11-24 00:03:36.705207+00:00,1,1,1,0.3333333333333333,81ce123c,03a5648a,0.0,0.0,0.0",
    "2,2019-11-24 00:05:39.519963+00:00,2,2,0,0.3333333333333333,cef3390e,2d03db55,0.0,0.0,2.0",
    "3,2019-11-24 00:08:15.760482+00:00,0,3,1,0.3333333333333333,cef3390e,03a5648a,1.0,0.0,0.0",
    "4,2019-11-24 00:08:21.388199+00:00,1,2,1,0.3333333333333333,81ce123c,f1c2d6a3,0.0,0.0,0.0",
    "5,2019-11-24 00:08:35.973982+00:00,2,3,0,,cef3390e,03a5648a,0.0,0.0,0.0",
]
# Target: item 0 at position 1 always; uniform over the three items at positions 2 and 3.
TARGET_SQL = """create or replace table target as
    select log.context_id, item.action, case when log.position = 1 then (item.action = 0)::int::double else 1 / 3 end as probability
    from {log} as log cross join (select unnest([0, 1, 2]) as action) as item"""


@pytest.fixture
def obd_csv(tmp_path: Path) -> Path:
    path = tmp_path / "random" / "all" / "all.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([HEADER, *LINES]) + "\n")
    return path


def test_an_open_bandit_log_is_evaluated_by_hand_computed_values(obd_csv: Path) -> None:
    connection = duckdb.connect()
    log = register_open_bandit_log(connection, obd_csv)
    assert log.context_columns == ("position", "user_feature_0", "user_feature_1", "user_item_affinity_0", "user_item_affinity_1",
                                   "user_item_affinity_2")
    assert connection.execute(f"select count(*), min(logged_at)::varchar from {log.view}").fetchall() == [(6, "2019-11-24 00:03:13.442536")]
    connection.execute(TARGET_SQL.format(log=log.view))
    with pytest.warns(ExcludedRowsWarning, match=r"1 of 6 logged rows left out \(1 propensity missing\)"):
        evaluation = evaluate_policy(connection, log.view, "target")
    weights = [1 / (1 / 3), 0 / (1 / 3), (1 / 3) / (1 / 3), (1 / 3) / (1 / 3), (1 / 3) / (1 / 3)]   # 3, 0, 1, 1, 1
    clicks = [1, 1, 0, 1, 1]
    assert evaluation.estimates["ips"].value == pytest.approx(sum(w * r for w, r in zip(weights, clicks)) / 5)       # 5 / 5
    assert evaluation.estimates["snips"].value == pytest.approx(sum(w * r for w, r in zip(weights, clicks)) / sum(weights))  # 5 / 6
    assert evaluation.estimates["clipped_ips"].value == pytest.approx(1.0)
    assert evaluation.estimates["ips"].rows_used == 5 and evaluation.rows_excluded == {"propensity missing": 1}


def test_the_raw_file_can_be_evaluated_through_a_column_mapping_alone(obd_csv: Path) -> None:
    connection = duckdb.connect()
    connection.execute(f"create view raw_obd as select * from read_csv('{obd_csv}') where propensity_score is not null")
    index = connection.execute("select * from raw_obd limit 0").description[0][0]     # DuckDB names the unnamed column (column00)
    connection.execute(f"""create table raw_target as select "{index}", item.item_id, case when position = 1 then (item.item_id = 0)::int::double
                           else 1 / 3 end as p from raw_obd cross join (select unnest([0, 1, 2]) as item_id) as item""")
    columns = LogColumns(context=index, action="item_id", reward="click", propensity="propensity_score", probability="p")
    assert evaluate_policy(connection, "raw_obd", "raw_target", columns=columns).estimates["ips"].value == pytest.approx(1.0)


def test_a_file_that_is_not_an_open_bandit_log_is_an_error(tmp_path: Path, obd_csv: Path) -> None:
    connection = duckdb.connect()
    path = tmp_path / "other.csv"
    path.write_text("timestamp,item_id,position,reward\n2019-11-24 00:00:00,1,1,0\n")
    with pytest.raises(PolicyEvaluationError, match="is not an Open Bandit Dataset log: it lacks click, propensity_score or action_prob"):
        register_open_bandit_log(connection, path)
    with pytest.raises(PolicyEvaluationError, match="no Open Bandit Dataset CSV at"):
        register_open_bandit_log(connection, tmp_path / "missing.csv")
    log = register_open_bandit_log(connection, obd_csv)
    connection.execute(TARGET_SQL.format(log=log.view).replace("[0, 1, 2]", "[0, 1]").replace("1 / 3", "1 / 2"))
    with pytest.raises(PolicyEvaluationError, match=r"logged actions are outside the target policy's eligible set \(2: 2 not in 0, 1\)"):
        evaluate_policy(connection, log.view, "target")
