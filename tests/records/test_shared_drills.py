"""The restore drill's history and trend page in the shared state: a drill on machine A and one
on machine B (each its own state_dir, one bucket) both appear in the trend page B writes, and a
third machine that never drilled sees backups.restore_tested pass. Real PostgreSQL, a real
backup from `backup.take`, the embedded drill cluster, moto S3 read back with boto3."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from tests.drills.project import DrillProject, seed
from tests.records.shared import make_bucket, objects, share
from tests.servers.moto import MotoServer


def _machine(root: Path, dsn: str, aws: MotoServer, url: str, notify: str,
             store: str | None = None) -> DrillProject:
    root.mkdir()
    proj = DrillProject(root, dsn)
    proj.write_config(store=store)
    # `check` needs an owner of release_signoff (its own precondition)
    proj.config.write_text(proj.config.read_text().replace(
        'backup_restore = ["bob"]\n', 'backup_restore = ["bob"]\nrelease_signoff = ["bob"]\n'))
    share(proj.config, aws.endpoint_url, url)
    proj.environ["BOB_NOTIFY_URL"] = notify
    return proj


def test_drills_on_two_machines_both_appear_in_the_trend_page(
        tmp_path: Path, pg_server: Any, aws: MotoServer, http_sink: Any) -> None:
    dsn = pg_server.create_database(f"records_{secrets.token_hex(3)}")
    seed(dsn)
    url = make_bucket(aws)
    a = _machine(tmp_path / "a", dsn, aws, url, http_sink.apprise_url)
    a.take()
    b = _machine(tmp_path / "b", dsn, aws, url, http_sink.apprise_url,
                 store=f"file://{a.store_dir}/")
    on_a, on_b = a.drill(), b.drill()
    assert on_a.rc == 0, on_a
    assert on_b.rc == 0, on_b
    ids = [on_a.doc["run_id"], on_b.doc["run_id"]]
    page = (b.state / "reports" / "drill-restore-trend.html").read_text()
    assert all(run_id in page for run_id in ids)
    assert "2 drill(s)" in page
    shared = objects(aws)
    assert shared["reports/drill-restore-trend.html"].decode() == page
    records = [json.loads(v) for k, v in shared.items() if k.startswith("records/drills/history/")]
    assert sorted(r["run_id"] for r in records) == sorted(ids)
    # A laptop that never ran a drill: the item judges the team's drills, backed by their
    # journals (fetched from the bucket).
    c = _machine(tmp_path / "c", dsn, aws, url, http_sink.apprise_url)
    r = c.run("check", "--only", "backups.restore_tested", "--json")
    assert r.rc == 0, r
    (item,) = r.doc["items"]
    assert item["verdict"] == "passed"
