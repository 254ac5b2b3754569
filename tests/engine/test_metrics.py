"""`[metrics] textfile`: Prometheus gauges after every run, read back with prometheus_client's
own parser (the format node_exporter's textfile collector reads)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from breakglass.engine import metrics
from tests.engine.conftest import Project


def _with_metrics(project: Project, textfile: Path) -> None:
    project.config.write_text(project.config.read_text()
                              + f'\n[metrics]\ntextfile = "{textfile}"\n')


def _samples(textfile: Path) -> dict[tuple[str, str], float]:
    """(metric name, target) -> value, parsed by the reference parser."""
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(textfile.read_text()):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            assert sample.labels["project"] == "acme"
            assert sample.labels["runbook"] == "test.markers"
            out[(sample.name, sample.labels["target"])] = sample.value
    return out


def _finished_at(project: Project, run_id: str) -> float:
    (end,) = [e for e in project.events(run_id) if e["type"] == "run_finished"]
    return datetime.fromisoformat(end["ts"]).timestamp()


def test_a_run_writes_its_gauges(project: Project, tmp_path: Path) -> None:
    textfile = tmp_path / "node_exporter" / "breakglass.prom"
    _with_metrics(project, textfile)

    assert project.markers_run("--yes").returncode == 0

    (run_id,) = project.run_ids()
    got = _samples(textfile)
    finished = _finished_at(project, run_id)
    assert got[("breakglass_last_run_timestamp_seconds", "markers")] == finished
    assert got[("breakglass_last_success_timestamp_seconds", "markers")] == finished
    assert got[("breakglass_last_run_exit_code", "markers")] == 0
    assert got[("breakglass_markers_applied", "markers")] == 3


def test_a_failed_run_keeps_the_last_success_and_other_targets(project: Project,
                                                                tmp_path: Path) -> None:
    textfile = tmp_path / "breakglass.prom"
    _with_metrics(project, textfile)
    assert project.markers_run("--yes").returncode == 0
    (good,) = project.run_ids()
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    assert project.run("markers", "--dir", str(other_dir), "--yes",
                       "--target", "elsewhere").returncode == 0

    failed = project.markers_run("--yes", "--fail-verify", "s2")

    assert failed.returncode == 1
    (bad,) = [i for i in project.run_ids() if i != good and
              any(e["data"].get("target") == "markers" for e in project.events(i)
                  if e["type"] == "run_started")]
    got = _samples(textfile)
    assert got[("breakglass_last_run_exit_code", "markers")] == 1
    assert got[("breakglass_last_run_timestamp_seconds", "markers")] == _finished_at(project, bad)
    assert got[("breakglass_last_success_timestamp_seconds", "markers")] == \
        _finished_at(project, good)
    assert got[("breakglass_last_run_exit_code", "elsewhere")] == 0


def test_a_metrics_file_that_cannot_be_written_never_fails_the_run(project: Project,
                                                                   tmp_path: Path) -> None:
    textfile = tmp_path / "taken"
    textfile.mkdir()  # a folder where the file should go: the rename fails
    _with_metrics(project, textfile)

    r = project.markers_run("--yes")

    assert r.returncode == 0, r.stderr
    assert "metrics not written to" in r.stdout
    (run_id,) = project.run_ids()
    logs = [e["data"]["message"] for e in project.events(run_id) if e["type"] == "log"]
    assert any(m.startswith(f"metrics not written to {textfile}: ") for m in logs)


def test_labels_are_escaped_so_the_reference_parser_reads_them() -> None:
    text = metrics.render([{"project": 'a"b\\c', "runbook": "drill.restore",
                            "target": "line\nbreak", "last_run": 1.5, "exit_code": 3,
                            "measures": {"drill_rto_seconds": 12.25}}])

    (rto,) = [s for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == "breakglass_drill_rto_seconds"]
    assert rto.labels == {"project": 'a"b\\c', "runbook": "drill.restore",
                          "target": "line\nbreak"}
    assert rto.value == 12.25
