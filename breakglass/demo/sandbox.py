"""The demo sandbox: an embedded "production" PostgreSQL seeded with a small SaaS schema, a local
backup store, a breakglass.toml pointing at both, and a local receiver standing in for the team's
chat so that owners' notices can be seen arriving. Every server it starts is stopped before it
returns; the sandbox directory (config, store, journals, reports) stays for the user to read and
is rebuilt from scratch by the next demo run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from breakglass.connectors import pgbin
from breakglass.connectors.pgcluster import EmbeddedCluster
from breakglass.errors import CouldNotVerify
from breakglass.recovery.manifest import Manifest, manifest_key

DATABASE = "acme"
TABLES = ("tenants", "users", "sessions", "api_tokens", "invoices")


@dataclass
class ChatReceiver:
    """A loopback HTTP endpoint for apprise's json:// notices (the demo's "team chat")."""

    titles: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        titles = self.titles

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    titles.append(str(json.loads(body).get("title", "")))
                except ValueError:
                    titles.append("(unreadable notice)")
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:  # keep the demo's output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"json://127.0.0.1:{self._server.server_address[1]}/"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def seed(dsn: str) -> dict[str, int]:
    """Create the demo database and fill it; returns exact row counts per table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))
    seed_sql = resources.files("breakglass.demo").joinpath("seed.sql").read_text()
    with psycopg.connect(dsn.replace("dbname=postgres", f"dbname={DATABASE}")) as conn:
        conn.execute(seed_sql)  # trusted SQL shipped with the package, no parameters
        return {t: conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(t)))
                .fetchone()[0]  # type: ignore[index]
                for t in TABLES}


def dump(cluster: EmbeddedCluster, store: Path, rows: dict[str, int], major: int) -> Path:
    """pg_dump -Fc into the store under a temp name, then rename: a partial dump is never
    visible as a backup. Writes the manifest beside it."""
    started = datetime.now(UTC)
    name = f"{DATABASE}-{started.strftime('%Y%m%dT%H%M%SZ')}.dump"
    tmp = store / f".{name}.partial"
    pg_dump = pgbin.find("pg_dump", at_least=major)
    env = {**cluster.env(), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(pg_dump), "-Fc", "-d", DATABASE, "-f", str(tmp)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise CouldNotVerify(f"pg_dump failed: {done.stderr.strip()[:300]}")
    digest = hashlib.sha256()
    with tmp.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    final = store / name
    tmp.rename(final)
    with psycopg.connect(cluster.dsn(DATABASE)) as conn:
        version = str(conn.execute("show server_version").fetchone()[0])  # type: ignore[index]
    manifest = Manifest(sha256=digest.hexdigest(), size=final.stat().st_size, created_at=started,
                        database=DATABASE, server_version=version, tables=rows)
    (store / manifest_key(name)).write_text(manifest.to_json())
    return final


def write_config(root: Path, chat_url: str) -> Path:
    path = root / "breakglass.toml"
    path.write_text(f"""# Written by `breakglass demo`.
# A real config holds references (env:, file:), never secret values.
[project]
name = "acme-demo"
environment = "demo"
state_dir = "state"

[owners]
backup_restore = ["dana"]

[people.dana]
notify = ["{chat_url}"]

[backups.main]
store = "file://{root / 'store'}/"
max_age = "26h"
retention_days = 35
encryption = "none"
""")
    return path


def fresh_sandbox(root: Path) -> None:
    """Remove what an earlier demo left (the directory is ours: it holds our marker)."""
    marker = root / ".breakglass-demo"
    if root.exists():
        if not marker.exists():
            raise CouldNotVerify(f"{root} exists and is not a breakglass demo sandbox; "
                                 "pass another --dir")
        shutil.rmtree(root)
    (root / "store").mkdir(parents=True)
    marker.write_text("this directory is rebuilt by every `breakglass demo`\n")


def truncate_copy(backup: Path) -> Path:
    """A newer backup that ends early, as a disk-full or killed upload leaves it."""
    data = backup.read_bytes()
    bad = backup.with_name(backup.name.replace(".dump", "-1.dump"))
    bad.write_bytes(data[: len(data) * 2 // 3])
    return bad
