"""The demo sandbox: an embedded "production" PostgreSQL seeded with a small SaaS schema, a local
backup store, a breakglass.toml pointing at both, and a local receiver standing in for the team's
chat so that owners' notices can be seen arriving. Every server it starts is stopped before it
returns; the sandbox directory (config, store, journals, reports) stays for the user to read and
is rebuilt from scratch by the next demo run.
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import tomli_w
from psycopg import sql

from breakglass.connectors import postgres as pg
from breakglass.connectors.files import private_dir, write_private
from breakglass.errors import CouldNotVerify

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
    with pg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))
    seed_sql = resources.files("breakglass.demo").joinpath("seed.sql").read_text()
    with pg.connect(dsn.replace("dbname=postgres", f"dbname={DATABASE}")) as conn:
        conn.execute(seed_sql)  # trusted SQL shipped with the package, no parameters
        return {t: conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(t)))
                .fetchone()[0]  # type: ignore[index]
                for t in TABLES}


def write_config(root: Path, chat_url: str, production_dsn: str) -> Path:
    """The sandbox's breakglass.toml. Like a real one, it holds references, not values: the
    production DSN lives in a 0600 file beside it. Written with tomli-w: a sandbox path with a
    quote or a backslash in it stays a valid TOML string."""
    secrets = root / "secrets"
    private_dir(secrets)
    write_private(secrets / "production.dsn", (production_dsn + "\n").encode())
    config = {
        "project": {"name": "acme-demo", "environment": "demo", "state_dir": "state"},
        "owners": {"backup_restore": ["dana"]},
        "people": {"dana": {"notify": [chat_url]}},
        "databases": {"main": {"dsn": "file:secrets/production.dsn"}},
        "backups": {"main": {
            "store": (root / "store").as_uri() + "/", "database": "main", "max_age": "26h",
            "retention_days": 35, "encryption": "none"}},
        "drills": {"restore": {
            "backup": "main", "environment": "local", "rto": "5m",
            # what the restored rows must show (the drill's `expect` rung)
            "expect": [{"sql": "select count(*) from users where is_active", "min": 25000},
                       {"sql": "select count(*) from invoices where status = 'paid'",
                        "min": 1}]}},
    }
    path = root / "breakglass.toml"
    path.write_text("# Written by `breakglass demo`.\n"
                    "# A real config holds references (env:, file:), never secret values.\n"
                    + tomli_w.dumps(config), "utf-8")
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


def truncate_copy(store: Path) -> Path:
    """A newer backup that ends early, as a full disk or a killed upload leaves it (no
    manifest: the job died before writing one)."""
    backup = max(store.glob("*.dump"), key=lambda p: p.stat().st_mtime)
    data = backup.read_bytes()
    bad = backup.with_name(backup.name.replace(".dump", "-1.dump"))
    bad.write_bytes(data[: len(data) * 2 // 3])
    return bad
