"""Ready-to-install schedules for the restore drill, from `[drills.restore] schedule` (cron).

    cron        one crontab line (local time); breakglass itself appends its output to
                state_dir/drills/cron.log (`--log`: it creates the folder, so the first run works)
    systemd     a oneshot service and its timer; OnCalendar converted from the cron expression
    github      an Actions workflow (UTC) that installs this very breakglass; AWS through OIDC
                ([drills.schedule] aws_role_arn) or repository secrets
    kubernetes  a CronJob (concurrencyPolicy: Forbid), credentials from a Secret; needs
                `[project] state` on S3, since a pod's disk is thrown away after each run

Each output names exactly what the drill will resolve where it runs (`needs()`): the backup's
identity, the Sentry DSN, the notify channels of the backup_restore owners, the drill server's
and production DSNs for `environment = "server"` (the production guard compares them), the RDS
password — and AWS credentials when the backups, the shared state or a secret live in AWS.
Nothing else: a Stripe key the drill never reads is not asked for.

The expression was parsed when the config loaded (config/cron.py); every printer converts the
same parse, so a schedule config.check accepts is one every printer can run.

No `flock` around the cron line: the engine already takes a lock per (runbook, target) and
refuses a second concurrent drill (exit 2), and frees it when a run dies, however it dies.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from breakglass.config import cron as cronexpr
from breakglass.errors import UsageError
from breakglass.recovery.environments import ENVIRONMENTS, Environment, SnapshotEnvironment
from breakglass.recovery.stores import store_class
from breakglass.secrets import parse_ref_scheme

if TYPE_CHECKING:
    from breakglass.config import Config

UNIT = "breakglass-drill-restore"
KINDS = ("cron", "systemd", "github", "kubernetes")
AWS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
K8S_NAME = "breakglass-drill-restore"
K8S_IMAGE = "python:3.12"  # the full image: git is in it, for a git+URL install spec
PYTHON = "3.12"


@dataclass(frozen=True)
class Needs:
    """What a scheduler must provide for the drill to run: (name, why) pairs."""

    variables: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)
    #: why AWS credentials are needed (empty: they are not)
    aws: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.variables]


def _resolved_refs(config: Config) -> list[tuple[str, str]]:
    """(key path, reference) of every secret `drill.restore` resolves with this config."""
    from breakglass.notify.owners import is_channel_ref

    drill = config.drills.restore
    assert drill is not None
    environment = ENVIRONMENTS.get(drill.environment)
    refs: list[tuple[str, str]] = []
    backup = config.backups.get(drill.backup)
    if backup is not None and backup.identity is not None and not _from_snapshot(environment):
        refs.append((f"backups.{drill.backup}.identity", backup.identity))  # steps/dump.py
    if config.sentry is not None:
        refs.append(("sentry.dsn", config.sentry.dsn))  # errors and cron check-ins
    for person in config.owners_of("backup_restore"):  # the runbook's responsibility
        person_cfg = config.people.get(person)
        for entry in person_cfg.notify if person_cfg else []:
            if is_channel_ref(entry):
                refs.append((f"people.{person}.notify", entry))
    return refs + environment.secret_refs(config)


def _store_uses_aws(url: str) -> bool:
    store = store_class(url)
    return store is not None and store.uses_aws


def _from_snapshot(environment: type[Environment]) -> bool:
    """No dump is fetched (so no age identity, no store): the environment restores a snapshot."""
    return issubclass(environment, SnapshotEnvironment)


def needs(config: Config) -> Needs:
    drill = config.drills.restore
    assert drill is not None
    variables: dict[str, str] = {}
    files: dict[str, str] = {}
    aws: list[str] = []
    for where, ref in _resolved_refs(config):
        scheme = parse_ref_scheme(ref)
        value = ref.partition(":")[2]
        if scheme == "env":
            variables.setdefault(value, where)
        elif scheme == "file":
            files.setdefault(value, where)
        else:  # aws-sm:, ssm:
            aws.append(f"{where} ({scheme}:)")
    backup = config.backups.get(drill.backup)
    environment = ENVIRONMENTS.get(drill.environment)
    if backup is not None and not _from_snapshot(environment) and _store_uses_aws(backup.store):
        aws.append(f"backups.{drill.backup}.store ({backup.store})")
    if environment.uses_aws:
        aws.append(f'drills.restore.environment = "{environment.kind}"')
    if config.project.state is not None:
        aws.append(f"project.state ({config.project.state})")
    if aws:
        why = "AWS: " + "; ".join(dict.fromkeys(aws))
        if config.aws.profile is not None:
            files.setdefault("~/.aws/credentials", f"[{config.aws.profile}] ([aws] profile); "
                                                   + why)
        else:
            for key in AWS_KEYS:
                variables.setdefault(key, why)
            if config.aws.region is None:
                variables.setdefault("AWS_DEFAULT_REGION", "[aws] region is not set")
    return Needs(sorted(variables.items()), sorted(files.items()), aws)


def _title(config: Config) -> str:
    """The project's name on one line: it goes into comments and unit descriptions, where a
    newline would start a line of its own (in a crontab, a command)."""
    return " ".join(config.project.name.split())


def _interpreter_command(config: Config, *extra: str) -> str:
    cfg = config.path.resolve() if config.path else Path("breakglass.toml").resolve()
    # The interpreter by absolute path: cron's PATH is /usr/bin:/bin, and a venv is not on it.
    return " ".join(shlex.quote(p) for p in (sys.executable, "-m", "breakglass", "drill.restore",
                                             "--yes", "--config", str(cfg), *extra))


def _needs_comment(need: Needs, how: str) -> list[str]:
    lines = []
    if need.variables:
        width = max(len(n) for n in need.names)
        lines.append(f"# The drill reads these variables; {how}:")
        lines += [f"#   {name:<{width}}  {why}" for name, why in need.variables]
    else:
        lines.append("# The drill reads no environment variables.")
    if need.files:
        lines.append("# and these files, for the user it runs as:")
        lines += [f"#   {path}  {why}" for path, why in need.files]
    return lines


def cron(expr: cronexpr.Cron, config: Config) -> str:
    log = Path(config.project.state_dir) / "drills" / "cron.log"
    lines = [f"# breakglass restore drill ({_title(config)}); times are the machine's "
             "local time.",
             "# The drill refuses to start while another one runs (its own lock): no flock.",
             *_needs_comment(needs(config), "set them as NAME=value lines at the top of this "
                                            "crontab (crontab -e; only its user can read it)"),
             f"# Output: {log} (breakglass creates the folder).",
             f"{expr.text} {_interpreter_command(config, '--log', str(log))}"]
    return "\n".join(lines) + "\n"


def systemd(expr: cronexpr.Cron, config: Config) -> str:
    workdir = config.path.resolve().parent if config.path else Path.cwd()
    need = needs(config)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.project.name).strip(".-") or "breakglass"
    env_file = f"/etc/breakglass/{slug}.env"
    env_lines = ("\n".join(_needs_comment(need, f"put NAME=value lines in {env_file} "
                                                "(mode 0600, owned by root)"))
                 + "\n" + (f"EnvironmentFile={env_file}\n" if need.variables else ""))
    return (
        f"# /etc/systemd/system/{UNIT}.service\n"
        "[Unit]\n"
        f"Description=breakglass restore drill ({_title(config)})\n"
        "Wants=network-online.target\nAfter=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"WorkingDirectory={workdir}\n"
        f"{env_lines}"
        f"ExecStart={_interpreter_command(config)}\n"
        "Nice=10\n\n"
        f"# /etc/systemd/system/{UNIT}.timer\n"
        "[Unit]\n"
        f"Description=Run the breakglass restore drill ({expr.text})\n\n"
        "[Timer]\n"
        f"OnCalendar={cronexpr.on_calendar(expr)}\n"
        "# a drill missed while the machine was off runs at the next boot\n"
        "Persistent=true\n"
        f"Unit={UNIT}.service\n\n"
        "[Install]\nWantedBy=timers.target\n\n"
        f"# install: systemctl daemon-reload && systemctl enable --now {UNIT}.timer\n")


# -- what installs this breakglass elsewhere ---------------------------------------------------
def install_spec(dist: metadata.Distribution) -> str:
    """The pip requirement that installs `dist` again on another machine: a version pin for a
    release from an index, the VCS URL at the installed commit (PEP 610 direct_url.json).
    UsageError for what another machine cannot reach (an editable or local-folder install)."""
    raw = dist.read_text("direct_url.json")
    if raw is None:  # installed from an index
        return f"{dist.metadata['Name']}=={dist.version}"
    info = json.loads(raw)
    url = str(info.get("url", ""))
    vcs = info.get("vcs_info")
    if vcs and not url.startswith("file:"):
        sub = info.get("subdirectory")
        return (f"{vcs['vcs']}+{url}@{vcs['commit_id']}"
                + (f"#subdirectory={sub}" if sub else ""))
    if "archive_info" in info and url.startswith(("https://", "http://")):
        return url
    raise UsageError(f"this breakglass was installed from {url or 'a local folder'} (editable or "
                     "local), which a runner cannot reach: pass --install SPEC, e.g. --install "
                     f"'breakglass=={dist.version}' or --install "
                     "'git+https://github.com/OWNER/breakglass@TAG'")


def _install(spec: str | None) -> str:
    return spec if spec else install_spec(metadata.distribution("breakglass"))


def _runs_elsewhere(need: Needs, config: Config, where: str) -> None:
    """Refuse what only this machine has: an AWS profile in its ~/.aws, a secret in a file."""
    if need.aws and config.aws.profile is not None:
        raise UsageError(f"aws.profile = {config.aws.profile!r} is a profile of this machine's "
                         f"~/.aws, which {where} does not have: leave [aws] profile out of the "
                         "config this schedule runs (AWS credentials then come from the "
                         "environment)")
    if need.files:
        path, why = need.files[0]
        raise UsageError(f"{why} needs the file {path}, which {where} does not have: use an env: "
                         "reference (or aws-sm:/ssm:) for it in the config this schedule runs")


def _repo_root(path: Path) -> Path:
    for folder in path.parents:
        if (folder / ".git").exists():
            return folder
    raise UsageError(f"{path} is not in a git repository: the workflow runs from a checkout of "
                     "the repository that holds the config; commit it to one")


def github(expr: cronexpr.Cron, config: Config, install: str | None = None) -> str:
    need = needs(config)
    _runs_elsewhere(need, config, "a GitHub runner")
    cfg = (config.path or Path("breakglass.toml")).resolve()
    root = _repo_root(cfg)
    role = config.drills.schedule.aws_role_arn
    oidc = bool(need.aws) and role is not None
    if oidc and config.aws.region is None:
        raise UsageError("drills.schedule.aws_role_arn needs [aws] region (the region "
                         "configure-aws-credentials signs in to)")
    # With OIDC the AWS keys are short-lived ones from the role, never repository secrets.
    asked = Needs([v for v in need.variables if not (oidc and v[0] in AWS_KEYS)], need.files,
                  need.aws)
    state = Path(config.project.state_dir).resolve()
    inside = state.is_relative_to(root)
    q = json.dumps  # a JSON string is a valid YAML scalar: no quoting surprises
    reports = (state.relative_to(root) if inside else state) / "reports"
    minutes = max(30, int(config.drills.restore.rto.total_seconds() // 60) * 2) \
        if config.drills.restore else 60
    out = [
        "# .github/workflows/breakglass-restore-drill.yml",
        "# GitHub runs schedules in UTC and may start them late under load.",
        *_needs_comment(asked, "add them as repository secrets (Settings > Secrets and "
                               "variables > Actions)"),
        *([f"# AWS ({'; '.join(need.aws)}): the role below, through GitHub's OIDC provider."]
          if oidc else []),
        *(["# No [project] state: the runner's disk is thrown away, so only the uploaded report",
           "# remains and `breakglass check` elsewhere never sees this drill (docs/state.md)."]
          if config.project.state is None else []),
        f"name: {q(f'breakglass restore drill ({config.project.name})')}",
        "on:", "  schedule:", f"    - cron: {q(expr.text)}", "  workflow_dispatch: {}",
        "permissions:", "  contents: read",
        *(["  id-token: write  # OIDC: assume the drill's AWS role"] if oidc else []),
        "# one drill at a time; the drill's own lock refuses a second one anyway",
        "concurrency:", "  group: breakglass-restore-drill", "  cancel-in-progress: false",
        "jobs:", "  restore-drill:", "    runs-on: ubuntu-latest",
        f"    timeout-minutes: {minutes}", "    steps:",
        "      - uses: actions/checkout@v4",
        "      - uses: actions/setup-python@v5", "        with:",
        f"          python-version: {q(PYTHON)}",
        "      - name: Install breakglass (the version that printed this workflow)",
        f"        run: python -m pip install {shlex.quote(_install(install))}",
    ]
    if oidc:
        out += ["      - uses: aws-actions/configure-aws-credentials@v4", "        with:",
                f"          role-to-assume: {q(role)}",
                f"          aws-region: {q(config.aws.region)}"]
    if not inside:
        out += ["      - name: Create state_dir (outside the repository)",
                f"        run: sudo install -d -m 0700 -o \"$(id -u)\" {shlex.quote(str(state))}"]
    out += ["      - name: Restore drill",
            f"        run: breakglass drill.restore --yes --config "
            f"{shlex.quote(str(cfg.relative_to(root)))}"]
    if asked.names:
        out += ["        env:"] + [f"          {n}: ${{{{ secrets.{n} }}}}" for n in asked.names]
    out += ["      - name: Keep the drill report", "        if: always()",
            "        uses: actions/upload-artifact@v4", "        with:",
            "          name: restore-drill-report", f"          path: {q(f'{reports}/')}",
            "          if-no-files-found: warn"]
    return "\n".join(out) + "\n"


def kubernetes(expr: cronexpr.Cron, config: Config, install: str | None = None) -> str:
    if config.project.state is None:
        raise UsageError("--print kubernetes needs [project] state = \"s3://BUCKET/PREFIX/\": a "
                         "pod's disk is thrown away after each run, and with it the drill's "
                         "history and reports (docs/state.md)")
    need = needs(config)
    _runs_elsewhere(need, config, "the pod")
    cfg = (config.path or Path("breakglass.toml")).resolve()
    state = Path(config.project.state_dir).resolve()
    # The config is mounted at /breakglass/<name>; a state_dir relative to it stays relative.
    pod_state = ("/breakglass" / state.relative_to(cfg.parent)
                 if state.is_relative_to(cfg.parent) else state)
    pod_cfg = f"/breakglass/{cfg.name}"
    script = (f"pip install --no-cache-dir --quiet {shlex.quote(_install(install))} && exec "
              f"breakglass drill.restore --yes --config {shlex.quote(pod_cfg)}")
    q = json.dumps
    secret_help = " ".join(f"--from-literal={n}=..." for n in need.names)
    return "\n".join([
        "# breakglass restore drill as a Kubernetes CronJob (schedule in the controller's",
        "# time zone unless timeZone is set). The config file goes in a ConfigMap, credentials",
        "# in a Secret:",
        f"#   kubectl create configmap {K8S_NAME}-config --from-file={cfg.name}={cfg}",
        f"#   kubectl create secret generic {K8S_NAME} {secret_help}".rstrip(),
        *_needs_comment(need, f"keys of the Secret {K8S_NAME}"),
        f"# State (history, reports, journals) lives in {config.project.state}.",
        "apiVersion: batch/v1", "kind: CronJob",
        "metadata:", f"  name: {K8S_NAME}",
        "spec:", f"  schedule: {q(expr.text)}",
        "  concurrencyPolicy: Forbid",
        "  startingDeadlineSeconds: 3600",
        "  successfulJobsHistoryLimit: 3", "  failedJobsHistoryLimit: 3",
        "  jobTemplate:", "    spec:",
        "      backoffLimit: 0  # a failed drill is a finding to read, not to retry",
        "      template:", "        spec:", "          restartPolicy: Never",
        "          containers:", "            - name: drill",
        f"              image: {q(K8S_IMAGE)}",
        f"              command: [\"/bin/sh\", \"-c\", {q(script)}]",
        *(["              envFrom:", "                - secretRef:",
           f"                    name: {K8S_NAME}"] if need.variables else []),
        "              volumeMounts:",
        "                - name: config", f"                  mountPath: {q(pod_cfg)}",
        f"                  subPath: {q(cfg.name)}", "                  readOnly: true",
        "                - name: state", f"                  mountPath: {q(str(pod_state))}",
        "          volumes:",
        "            - name: config", "              configMap:",
        f"                name: {K8S_NAME}-config",
        "            - name: state", "              emptyDir: {}",
    ]) + "\n"


def render(kind: str, expr: str, config: Config, install: str | None = None) -> str:
    parsed = cronexpr.parse(expr)  # the config's validator already accepted it
    if kind == "github":
        return github(parsed, config, install)
    if kind == "kubernetes":
        return kubernetes(parsed, config, install)
    return {"cron": cron, "systemd": systemd}[kind](parsed, config)
