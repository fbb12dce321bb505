"""ES response filtering: the global `filter_path` parameter, applied to a response body before it is rendered.

Mirrors Elasticsearch's `AbstractRestChannel.newBuilder` (comma-separated, trimmed filters; a leading `-` makes a
filter an exclusion), `FilterPath` (dotted segments, `\\.` for a literal dot, `*` globs within a segment, `**` for any
number of levels) and `FilterPathBasedFilter` run by Jackson's `FilteringGeneratorDelegate` (includes first, then
excludes; arrays are transparent to paths; the root object is always written, so a body filtered to nothing is `{}`).
Values other than objects and arrays, `orjson.Fragment` vectors among them, are leaves: kept or dropped whole.
"""

from __future__ import annotations

import re
from typing import Any

_JAVA_WHITESPACE = "".join(map(chr, range(33)))  # what Java's String.trim() strips
_ESCAPED = re.compile(r"\\.")  # Java's replaceAll("\\\\.", "."): a backslash and any one character
_DROPPED = object()


class FilterPath:
    """One node of ES's filter tree: a segment pattern and the segments that may follow it."""

    __slots__ = ("_glob", "_terms", "_wildcards", "final", "recursive")

    def __init__(self, pattern: str, final: bool, children: dict[str, FilterPath]) -> None:
        self.final = final
        self.recursive = pattern == "**"
        self._glob = re.compile(".*".join(map(re.escape, pattern.split("*"))), re.DOTALL) if "*" in pattern else None
        self._terms = {name: child for name, child in children.items() if child._glob is None}
        self._wildcards = tuple((child._glob, child) for child in children.values() if child._glob is not None)

    def matches(self, name: str, following: list[FilterPath]) -> bool:
        """ES `FilterPath.matches`: true when `name` ends a filter here; otherwise the nodes to try one level down are
        added to `following` (a `**` node stays there itself, so it spans any depth)."""
        term = self._terms.get(name)
        if term is not None:
            if term.final:
                return True
            following.append(term)
        for glob, wildcard in self._wildcards:
            if glob.fullmatch(name):
                if wildcard.final:
                    return True
                following.append(wildcard)
        if self.recursive:
            following.append(self)
        return False


class _Building:
    __slots__ = ("children", "final")

    def __init__(self, final: bool) -> None:
        self.final = final
        self.children: dict[str, _Building] = {}

    def insert(self, path: str) -> None:
        split, escapes, i = -1, False, 0
        while i < len(path):
            if path[i] == ".":
                split = i
                break
            if path[i] == "\\" and path[i + 1 : i + 2] == ".":
                i += 1
                escapes = True
            i += 1
        if split > 0:  # ES splits only after a non-empty segment: a leading dot stays in the name
            name = _ESCAPED.sub(".", path[:split]) if escapes else path[:split]
            child = self.children.setdefault(name, _Building(False))
            if not child.final:
                child.insert(path[split + 1 :])
        else:
            self.children[_ESCAPED.sub(".", path) if escapes else path] = _Building(True)

    def build(self, pattern: str) -> FilterPath:
        return FilterPath(pattern, self.final, {name: child.build(name) for name, child in self.children.items()})


def compile_filters(paths: set[str]) -> FilterPath:
    """ES `FilterPath.compile`: one tree for all the paths; blank ones add nothing (and so match nothing)."""
    root = _Building(False)
    for path in paths:
        trimmed = path.strip(_JAVA_WHITESPACE)
        if trimmed:
            root.insert(trimmed)
    return root.build("")


class ResponseFilter:
    """The `filter_path` of one request. `keep_empty`: whether an exclusion keeps an object or array that was already
    empty (ES 8.15.4+ and 8.16+, elastic/elasticsearch#112250); before that ES dropped every empty container on an
    excluded path's way (#63842). Containers that filtering empties are dropped in both."""

    __slots__ = ("_excludes", "_includes", "_keep_empty")

    def __init__(self, includes: FilterPath | None, excludes: FilterPath | None, keep_empty: bool) -> None:
        self._includes = includes
        self._excludes = excludes
        self._keep_empty = keep_empty

    @classmethod
    def parse(cls, filter_path: str, keep_empty: bool) -> ResponseFilter | None:
        """None when the parameter names no filter at all (`Strings.tokenizeByCommaToSet` drops blank tokens)."""
        filters = {token for part in filter_path.split(",") if (token := part.strip(_JAVA_WHITESPACE))}
        if not filters:
            return None
        includes = {f for f in filters if not f.startswith("-")}
        excludes = {f[1:] for f in filters if f.startswith("-")}
        return cls(
            compile_filters(includes) if includes else None,
            compile_filters(excludes) if excludes else None,
            keep_empty,
        )

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._includes is not None:
            body = _included_fields(body, [self._includes])
        if self._excludes is not None:
            body = _remaining_fields(body, [self._excludes], self._keep_empty)
        return body


def _included_fields(node: dict[str, Any], filters: list[FilterPath]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in node.items():
        following: list[FilterPath] = []
        if any(f.matches(name, following) for f in filters):
            kept[name] = value
        elif following:
            value = _included(value, following)
            if value is not _DROPPED:
                kept[name] = value
    return kept


def _included(value: Any, filters: list[FilterPath]) -> Any:
    """A value on the way to an include filter: only what a filter reaches survives; emptied containers go."""
    if isinstance(value, dict):
        kept = _included_fields(value, filters)
        return kept if kept else _DROPPED
    if isinstance(value, list | tuple):
        items = [item for item in (_included(item, filters) for item in value) if item is not _DROPPED]
        return items if items else _DROPPED
    return _DROPPED


def _remaining_fields(node: dict[str, Any], filters: list[FilterPath], keep_empty: bool) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in node.items():
        following: list[FilterPath] = []
        if any(f.matches(name, following) for f in filters):
            continue
        if following:
            value = _remaining(value, following, keep_empty)
            if value is _DROPPED:
                continue
        kept[name] = value
    return kept


def _remaining(value: Any, filters: list[FilterPath], keep_empty: bool) -> Any:
    """A value on the way to an exclude filter: everything but what a filter reaches survives."""
    if isinstance(value, dict):
        if not value:
            return value if keep_empty else _DROPPED
        kept = _remaining_fields(value, filters, keep_empty)
        return kept if kept else _DROPPED
    if isinstance(value, list | tuple):
        if not value:
            return value if keep_empty else _DROPPED
        items = [item for item in (_remaining(item, filters, keep_empty) for item in value) if item is not _DROPPED]
        return items if items else _DROPPED
    return value
