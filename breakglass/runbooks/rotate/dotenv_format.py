r"""The .env file FORMAT: read and rewrite one `KEY=value` line, as a pure text transform.

(Not to be confused with the secret kind `env_file`, rotate/env_file.py. Writing a file on a host
— atomically, with a backup — is the store layer's: rotate/stores/dotenv_hosts.py.)

The format understood is the common subset of python-dotenv, docker compose `env_file`,
systemd `EnvironmentFile=` and a shell `. .env`:

    # comment                         kept as is, like blank lines and every other line
    KEY=value                         unquoted: ends at the end of the line or at " #"
    export KEY='value'                single quotes: literal (dotenv alone reads \\ and \')
    KEY = "value"                     double quotes: \\ and \" are escapes
    KEY=value  # note                 the trailing comment is kept on rewrite

A rewrite changes only the line(s) assigning KEY (all of them, so that whichever a loader
picks, it sees the new value), keeping their `export`, spacing, quote style and line ending;
a missing KEY is appended. A value that an unquoted line would corrupt (spaces, `#`, quotes,
`$`, shell metacharacters) is written in single quotes — literal for every loader above — or,
when it contains a `'` or a backslash, in double quotes with `\` and `\"` escaped (a double-
quoted line stays double-quoted when the value allows it). Refused, because the loaders would
disagree: a newline, `${` (python-dotenv expands it even in single quotes), and a quote or
backslash together with `$` or a backtick. `docker run --env-file` takes lines raw, without
quote processing: there, only bare values ([A-Za-z0-9_-.:/+=@%,]) read back the same.

Django's SECRET_KEY (`rotate_django_secret_key`): the old key moves to SECRET_KEY_FALLBACKS so
that sessions and signed values made with it stay valid (Django >= 4.1, "SECRET_KEY_FALLBACKS"
in the settings reference); with `leaked=True` the fallbacks are emptied, so every session
signed with the leaked key dies. Format of SECRET_KEY_FALLBACKS: a comma-separated list —
what `os.environ["SECRET_KEY_FALLBACKS"].split(",")` or django-environ's `env.list()` read —
or, when the file already holds a JSON list (`["a", "b"]`, read with `json.loads`), a JSON list.
Only the previous key is kept: never more than two live keys (issue 4).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from breakglass.errors import UsageError

Quote = Literal["", "'", '"']

_ASSIGN = re.compile(r"^(?P<prefix>[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_.]*)"
                     r"[ \t]*=[ \t]*)(?P<rest>.*)$", re.DOTALL)
# Safe unquoted in every loader above, including a POSIX shell sourcing the file.
_BARE = re.compile(r"[A-Za-z0-9_\-.:/+=@%,]*")


@dataclass(frozen=True)
class Assignment:
    """One `KEY=value` line, split so that it can be rebuilt with another value."""

    prefix: str  # indentation, `export `, the key, `=` and the spaces around it
    key: str
    value: str
    quote: Quote
    suffix: str  # what follows the value: spaces and an inline comment
    eol: str  # "\n", "\r\n" or "" (last line without a newline)

    def with_value(self, value: str) -> str:
        return self.prefix + format_value(value, self.quote) + self.suffix + self.eol


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split at "\n" only: str.splitlines() also splits at \x0b,
    \x1c, \x85, \u2028…, which are ordinary characters to every env-file loader."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def parse_line(line: str) -> Assignment | None:
    """The assignment on `line` (with its line ending), or None for comments, blanks and lines
    that are not `KEY=value`."""
    body = line.rstrip("\r\n")
    eol = line[len(body):]
    match = _ASSIGN.match(body)
    if match is None:
        return None
    rest = match["rest"]
    if rest[:1] == "'":
        end = rest.find("'", 1)
        if end < 0:
            return None  # unterminated: not a line we understand, so never rewritten
        return Assignment(match["prefix"], match["key"], rest[1:end], "'", rest[end + 1:], eol)
    if rest[:1] == '"':
        chars: list[str] = []
        i = 1
        while i < len(rest) and rest[i] != '"':
            if rest[i] == "\\" and i + 1 < len(rest) and rest[i + 1] in '\\"':
                i += 1
            chars.append(rest[i])
            i += 1
        if i >= len(rest):
            return None
        return Assignment(match["prefix"], match["key"], "".join(chars), '"', rest[i + 1:], eol)
    comment = re.search(r"[ \t]+#", rest)
    raw = rest[:comment.start()] if comment else rest
    value = raw.rstrip(" \t")
    return Assignment(match["prefix"], match["key"], value, "", rest[len(value):], eol)


def format_value(value: str, prefer: Quote = "") -> str:
    """`value` as it must be written so that python-dotenv (with interpolation), compose and a
    POSIX shell all read it back exactly; UsageError for a value no quoting can carry."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise UsageError("an env-file value cannot contain a newline or NUL")
    if "${" in value:
        # python-dotenv expands ${VAR} even inside single quotes, and has no escape for it.
        raise UsageError('an env-file value cannot contain "${" (dotenv would expand it); '
                         "generate values from an alphabet without { }")
    if prefer == "" and _BARE.fullmatch(value):
        return value
    # Single quotes are literal for every loader, except that dotenv reads \\ and \' in them.
    single_ok = "'" not in value and "\\" not in value
    # Double quotes: \\ and \" are escapes everywhere, but the shell expands $ and ` in them.
    double_ok = not re.search(r"[$`]", value)
    if double_ok and (prefer == '"' or not single_ok):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if single_ok:
        return f"'{value}'"
    raise UsageError("an env-file value with a quote or backslash and a $ or ` cannot be "
                     "written so that every loader reads it the same; choose an alphabet "
                     "without them")


def read_value(text: str, key: str) -> str | None:
    """The value of the last assignment of `key` (loaders let a later line win), or None."""
    found = None
    for line in split_lines(text):
        a = parse_line(line)
        if a is not None and a.key == key:
            found = a.value
    return found


def set_value(text: str, key: str, value: str) -> str:
    """`text` with every assignment of `key` set to `value` (appended when missing); every
    other line is returned unchanged, byte for byte."""
    format_value(value)  # refuse an unwritable value before anything else
    lines = split_lines(text)
    out, found = [], False
    for line in lines:
        a = parse_line(line)
        if a is not None and a.key == key:
            out.append(a.with_value(value))
            found = True
        else:
            out.append(line)
    if not found:
        eol = "\r\n" if lines and lines[-1].endswith("\r\n") else "\n"
        if out and not out[-1].endswith(("\n", "\r")):
            out[-1] += eol
        out.append(f"{key}={format_value(value)}{eol}")
    return "".join(out)


def parse_list(raw: str) -> list[str]:
    """SECRET_KEY_FALLBACKS as a list: a JSON list when it starts with `[`, else comma-separated
    (empty items dropped)."""
    raw = raw.strip()
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except ValueError:
            raise UsageError("SECRET_KEY_FALLBACKS starts with [ but is not a JSON list") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise UsageError("SECRET_KEY_FALLBACKS must be a JSON list of strings")
        return items
    return [item for item in raw.split(",") if item]


def format_list(items: list[str], json_style: bool) -> str:
    if json_style:
        return json.dumps(items)
    if any("," in item for item in items):
        raise UsageError("a key containing a comma cannot go in a comma-separated "
                         "SECRET_KEY_FALLBACKS; write it as a JSON list ([\"...\"]) instead")
    return ",".join(items)


def rotate_django_secret_key(text: str, new_key: str, *, leaked: bool,
                             key: str = "SECRET_KEY",
                             fallbacks_key: str = "SECRET_KEY_FALLBACKS") -> str:
    """Set `key` to `new_key`; the previous key becomes the only fallback (or, when leaked,
    the fallbacks are emptied). Idempotent: applied twice with the same new key, the fallback
    stays the key before it (a resumed run must not make the new key its own fallback)."""
    old = read_value(text, key)
    raw = read_value(text, fallbacks_key)
    current = parse_list(raw or "")
    if leaked:
        fallbacks: list[str] = []
    elif old == new_key:  # already applied (a resumed run): the fallbacks are already right
        fallbacks = current
    else:
        fallbacks = [old] if old else []
    text = set_value(text, key, new_key)
    if fallbacks != current or (raw is None and fallbacks):
        json_style = raw is not None and raw.strip().startswith("[")
        text = set_value(text, fallbacks_key, format_list(fallbacks, json_style))
    return text
