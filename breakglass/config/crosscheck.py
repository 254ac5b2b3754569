"""Checks that span sections: owners name known responsibilities and existing people, backups
name a [databases.*], the restore drill names a [backups.*], [checklist.*] names hosts and
databases that exist.

They read the raw TOML document (defensively: any section may have the wrong type, which the
models report) so that they run even when another section fails to validate and the user sees
every problem in one go.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from breakglass.config.models import RESPONSIBILITIES
from breakglass.config.problems import key_path


def _table(doc: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    current: Any = doc
    for key in keys:
        current = current.get(key) if isinstance(current, Mapping) else None
    return current if isinstance(current, Mapping) else {}


def _hint(name: str, known: list[str], otherwise: str) -> str:
    guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {_q(guess[0])}?)" if guess else f" ({otherwise})"


def _q(name: str) -> str:
    # Quoted the JSON way: a newline in a name cannot break the one-line-per-problem rule.
    return json.dumps(name, ensure_ascii=False)


def cross_check(doc: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    people = list(_table(doc, "people"))
    for role, names in _table(doc, "owners").items():
        where = key_path(("owners", role))
        if role not in RESPONSIBILITIES:
            problems.append(f"{where}: unknown responsibility" + _hint(
                role, list(RESPONSIBILITIES), f"known: {', '.join(RESPONSIBILITIES)}"))
        for name in names if isinstance(names, list) else []:
            if isinstance(name, str) and name and name not in people:
                problems.append(f"{where}: unknown person {_q(name)}"
                                + _hint(name, people, f"add [{key_path(('people', name))}]"))

    databases = list(_table(doc, "databases"))
    for backup, section in _table(doc, "backups").items():
        db = section.get("database") if isinstance(section, Mapping) else None
        if isinstance(db, str) and db not in databases:
            problems.append(f"{key_path(('backups', backup, 'database'))}: unknown database "
                            f"{_q(db)}" + _hint(db, databases,
                                                f"add [{key_path(('databases', db))}]"))

    accounts_db = _table(doc, "accounts").get("database")
    if isinstance(accounts_db, str) and accounts_db and accounts_db not in databases:
        problems.append(f"accounts.database: unknown database {_q(accounts_db)}" + _hint(
            accounts_db, databases, f"add [{key_path(('databases', accounts_db))}]"))
    for key in ("probe_session_url", "probe_token_url", "probe_url"):
        probe = _table(doc, "accounts").get(key)
        if isinstance(probe, str) and probe.startswith("/") and "base_url" not in _table(
                doc, "app"):
            problems.append(f"accounts.{key}: a path needs [app] base_url (or give the whole "
                            "http(s):// URL)")

    backups = list(_table(doc, "backups"))
    drill_backup = _table(doc, "drills", "restore").get("backup")
    if isinstance(drill_backup, str) and drill_backup and drill_backup not in backups:
        problems.append(f"drills.restore.backup: unknown backup {_q(drill_backup)}"
                        + _hint(drill_backup, backups,
                                f"add [{key_path(('backups', drill_backup))}]"))

    hosts = list(_table(doc, "hosts"))
    audited = _table(doc, "checklist", "hosts").get("hosts")
    for i, name in enumerate(audited if isinstance(audited, list) else []):
        if isinstance(name, str) and name and name not in hosts:
            problems.append(f"{key_path(('checklist', 'hosts', 'hosts', i))}: unknown host "
                            f"{_q(name)}"
                            + _hint(name, hosts, f"add [{key_path(('hosts', name))}]"))

    app_db = _table(doc, "checklist", "data").get("app_database")
    if isinstance(app_db, str) and app_db and app_db not in databases:
        problems.append(f"checklist.data.app_database: unknown database {_q(app_db)}" + _hint(
            app_db, databases, f"add [{key_path(('databases', app_db))}]"))
    return problems
