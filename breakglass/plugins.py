"""The shape every extension point shares: a registry of self-describing plugin classes.

A plugin is a class that carries its own name, docs and settings model (a drill environment,
a backup store). Its registry knows the built-in ones by real imports, so mypy checks them, and
finds those of other installed distributions through an entry-point group (pyinfra's
`pyinfra.connectors` shape): a distribution declares

    [project.entry-points."breakglass.drill_environments"]
    tiny = "tiny_env:TinyEnvironment"

and nothing in breakglass names it. Entry points are read once, when the registry is first
asked, never at `breakglass --help`. A plugin module is light to import: its heavy SDK (boto3,
psycopg) is imported by the methods that use it.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar, cast

from breakglass.errors import ConfigError

T = TypeVar("T")


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """'did you mean "rds"?' for a near miss, else 'known: a, b, c'."""
    names = list(known)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else f"known: {', '.join(names)}"


class Registry(Generic[T]):
    """name -> plugin class. `builtin` lists the shipped classes (imported for real by the
    caller); `group` is the entry-point group of third-party ones, each checked to subclass
    `base` (T itself, which mypy will not take as a value when it is abstract); `name_of` reads
    a class's name; `what` says what a plugin is, for errors ("drill environment")."""

    def __init__(self, what: str, group: str, builtin: Callable[[], Iterable[type[T]]],
                 name_of: Callable[[type[T]], str], base: type) -> None:
        self.what, self.group, self._builtin = what, group, builtin
        self._name_of, self._base = name_of, base

    @functools.cached_property
    def plugins(self) -> dict[str, type[T]]:
        found = {self._name_of(cls): cls for cls in self._builtin()}
        for name, cls in self._entry_points():
            if name in found and found[name] is not cls:
                raise ConfigError(f"the {self.what} {name!r} of entry point group {self.group} "
                                  "is already registered: rename the plugin's entry point")
            found[name] = cls
        return found

    def _entry_points(self) -> list[tuple[str, type[T]]]:
        from importlib.metadata import entry_points

        out: list[tuple[str, type[T]]] = []
        for ep in entry_points(group=self.group):
            loaded = ep.load()
            if not (isinstance(loaded, type) and issubclass(loaded, self._base)):
                raise ConfigError(f"entry point {ep.name} = {ep.value!r} of group {self.group} "
                                  f"is not a {self._base.__name__} subclass")
            cls = cast("type[T]", loaded)
            if self._name_of(cls) != ep.name:
                raise ConfigError(f"entry point {ep.name} = {ep.value!r} of group {self.group} "
                                  f"names a {self.what} called {self._name_of(cls)!r}: make "
                                  "them the same")
            out.append((ep.name, cls))
        return out

    def names(self) -> list[str]:
        return list(self.plugins)

    def builtin(self) -> list[type[T]]:
        """The shipped plugins (the docs shipped with breakglass list these)."""
        return list(self._builtin())

    def get(self, name: str) -> type[T]:
        """The plugin called `name`; ConfigError (exit 2) naming the closest one otherwise."""
        found = self.plugins.get(name)
        if found is None:
            raise ConfigError(self.unknown(name))
        return found

    def unknown(self, name: str) -> str:
        return f'unknown {self.what} "{name}" ({did_you_mean(name, self.plugins)})'
