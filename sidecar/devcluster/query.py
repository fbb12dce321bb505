"""The query DSL subset the stand-in evaluates, with scores, and sorting of hits.

Queries: match_all, match_none, term, terms, ids, exists, prefix, range, match, bool, constant_score
and text_expansion (scored by the dot product of ELSER weights). `term` on a `text` field compares
against the lower-cased words, as the standard analyzer would have indexed them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sidecar.devcluster.ingest import get_path
from sidecar.devcluster.mapping import SORTABLE_TYPES, field_type
from sidecar.devcluster.security import name_matches
from sidecar.devcluster.state import Document, Index
from sidecar.domain.errors import ElasticsearchError

_WORDS = re.compile(r"\w+")
SCORING_QUERIES = frozenset(
    {
        "match_all",
        "match_none",
        "term",
        "terms",
        "ids",
        "exists",
        "prefix",
        "range",
        "match",
        "bool",
        "constant_score",
        "text_expansion",
        "wildcard",
    }
)

Expander = Callable[[str, str], dict[str, float]]


def parsing_error(reason: str) -> ElasticsearchError:
    return ElasticsearchError(400, "parsing_exception", reason)


@dataclass
class Candidate:
    index: Index
    document: Document
    score: float


def values_at(document: Document, index: Index, field: str) -> list[Any]:
    if field == "_id":
        return [document.id]
    if field == "_index":
        return [index.name]
    base = field
    if get_path(document.source, field) is None and "." in field:
        parent, _, leaf = field.rpartition(".")
        if leaf in ("keyword", "raw") and field_type(index.mappings, field) is not None:
            base = parent
    value = get_path(document.source, base)
    if value is None:
        return []
    flat: list[Any] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, list):
            flat.extend(item)
        elif item is not None:
            flat.append(item)
    return flat


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return str(stored).lower() == str(wanted).lower()
    if isinstance(stored, int | float) and not isinstance(wanted, int | float):
        try:
            return float(stored) == float(wanted)
        except (TypeError, ValueError):
            return False
    if isinstance(wanted, int | float) and isinstance(stored, str):
        return stored == str(wanted)
    return bool(stored == wanted)


def _term_matches(index: Index, document: Document, field: str, wanted: Any) -> bool:
    values = values_at(document, index, field)
    if field_type(index.mappings, field) == "text":
        return any(str(wanted) in _WORDS.findall(str(v).lower()) for v in values)
    return any(_same(v, wanted) for v in values)


def _single_field(name: str, body: Any) -> tuple[str, Any]:
    if not isinstance(body, dict) or not body:
        raise parsing_error(f"[{name}] query malformed, no start_object after query name")
    fields = [k for k in body if k not in ("boost", "_name")]
    if len(fields) != 1:
        raise parsing_error(
            f"[{name}] query doesn't support multiple fields, found [{fields[0]}] and [{fields[-1]}]"
            if len(fields) > 1
            else f"[{name}] query malformed, no field"
        )
    return fields[0], body[fields[0]]


def _value(spec: Any, key: str = "value") -> Any:
    return spec.get(key) if isinstance(spec, dict) else spec


def _as_clauses(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def evaluate(
    query: dict[str, Any] | None, index: Index, document: Document, expander: Expander | None = None
) -> float | None:
    """The document's score, or None when it does not match."""
    if query is None or query == {}:
        return 1.0
    if not isinstance(query, dict) or len(query) != 1:
        raise parsing_error("[_na] query malformed, must start with start_object")
    name, body = next(iter(query.items()))
    if name == "match_all":
        return float((body or {}).get("boost", 1.0))
    if name == "match_none":
        return None
    if name == "term":
        field, spec = _single_field(name, body)
        return 1.0 if _term_matches(index, document, field, _value(spec)) else None
    if name == "terms":
        fields = [k for k in (body or {}) if k != "boost"]
        if len(fields) != 1 or not isinstance(body[fields[0]], list):
            raise parsing_error(
                "[terms] query does not support multiple fields" if len(fields) > 1 else "[terms] query malformed"
            )
        return 1.0 if any(_term_matches(index, document, fields[0], v) for v in body[fields[0]]) else None
    if name == "ids":
        ids = (body or {}).get("values", [])
        return 1.0 if document.id in [str(i) for i in ids] else None
    if name == "exists":
        exists_field = (body or {}).get("field")
        if not exists_field:
            raise parsing_error("[exists] must be provided with a [field]")
        return 1.0 if values_at(document, index, str(exists_field)) else None
    if name == "prefix":
        field, spec = _single_field(name, body)
        prefix = str(_value(spec))
        return 1.0 if any(str(v).startswith(prefix) for v in values_at(document, index, field)) else None
    if name == "wildcard":
        field, spec = _single_field(name, body)
        pattern = str(_value(spec))
        return 1.0 if any(name_matches(str(v), pattern) for v in values_at(document, index, field)) else None
    if name == "range":
        field, spec = _single_field(name, body)
        return 1.0 if any(_in_range(v, spec) for v in values_at(document, index, field)) else None
    if name == "match":
        field, spec = _single_field(name, body)
        text = str(_value(spec, "query"))
        operator = (spec.get("operator", "or") if isinstance(spec, dict) else "or").lower()
        wanted = _WORDS.findall(text.lower())
        present = {w for v in values_at(document, index, field) for w in _WORDS.findall(str(v).lower())}
        hits = [w for w in wanted if w in present]
        matched = bool(hits) and (operator == "or" or len(hits) == len(wanted))
        return float(len(hits)) if matched else None
    if name == "constant_score":
        inner = (body or {}).get("filter")
        if inner is None:
            raise parsing_error("[constant_score] requires a 'filter' element")
        return float(body.get("boost", 1.0)) if evaluate(inner, index, document, expander) is not None else None
    if name == "bool":
        return _bool(body or {}, index, document, expander)
    if name == "text_expansion":
        field, spec = _single_field(name, body)
        if expander is None or not isinstance(spec, dict):
            raise parsing_error("[text_expansion] query malformed")
        weights = expander(str(spec.get("model_id")), str(spec.get("model_text", "")))
        stored = get_path(document.source, field)
        if not isinstance(stored, dict):
            return None
        score = sum(weight * float(stored.get(token, 0.0)) for token, weight in weights.items())
        return score if score > 0 else None
    raise ElasticsearchError(
        400,
        "parsing_exception",
        f"unknown query [{name}]",
        caused_by={
            "type": "named_object_not_found_exception",
            "reason": f"[1:{len(name) + 13}] unknown field [{name}]",
        },
    )


def _bool(body: dict[str, Any], index: Index, document: Document, expander: Expander | None) -> float | None:
    score = 0.0
    for clause in _as_clauses(body.get("must")):
        result = evaluate(clause, index, document, expander)
        if result is None:
            return None
        score += result
    for clause in _as_clauses(body.get("filter")):
        if evaluate(clause, index, document, expander) is None:
            return None
    for clause in _as_clauses(body.get("must_not")):
        if evaluate(clause, index, document, expander) is not None:
            return None
    should = _as_clauses(body.get("should"))
    if should:
        scores = [s for s in (evaluate(c, index, document, expander) for c in should) if s is not None]
        required = body.get("minimum_should_match")
        if required is None:
            required = 0 if body.get("must") or body.get("filter") else 1
        if len(scores) < int(str(required).rstrip("%") or 0):
            return None
        score += sum(scores)
    return score


def _in_range(value: Any, spec: dict[str, Any]) -> bool:
    def compare(bound: Any) -> int:
        try:
            a, b = float(value), float(bound)
        except (TypeError, ValueError):
            a, b = str(value), str(bound)  # type: ignore[assignment]
        return (a > b) - (a < b)

    checks = {"gt": lambda c: c > 0, "gte": lambda c: c >= 0, "lt": lambda c: c < 0, "lte": lambda c: c <= 0}
    return all(check(compare(spec[key])) for key, check in checks.items() if key in spec)


# --- sorting --------------------------------------------------------------------------------


@dataclass
class SortKey:
    field: str
    descending: bool
    missing_first: bool


def parse_sort(sort: Any) -> list[SortKey]:
    if sort is None:
        return []
    keys = []
    for item in sort if isinstance(sort, list) else [sort]:
        if isinstance(item, str):
            plain, _, plain_order = item.partition(":")
            keys.append(SortKey(plain, (plain_order or ("desc" if plain == "_score" else "asc")) == "desc", False))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise parsing_error(
                "malformed sort format, within the sort array, an object, or an actual string are allowed"
            )
        name, spec = next(iter(item.items()))
        field = str(name)
        order = spec if isinstance(spec, str) else (spec or {}).get("order")
        descending = (order or ("desc" if field == "_score" else "asc")) == "desc"
        missing = (spec or {}).get("missing", "_last") if isinstance(spec, dict) else "_last"
        keys.append(SortKey(field, descending, missing == "_first"))
    return keys


def check_sortable(keys: list[SortKey], indices: list[Index]) -> str | None:
    """The first sort problem ES would report, as (reason) of a shard failure."""
    for key in keys:
        if key.field in ("_score", "_doc", "_id", "_index", "_seq_no"):
            continue
        types = [field_type(index.mappings, key.field) for index in indices]
        if indices and all(t is None for t in types):
            return f"No mapping found for [{key.field}] in order to sort on"
        if any(t == "text" for t in types):
            return (
                "Text fields are not optimised for operations that require per-document field data like "
                "aggregations and sorting, so these operations are disabled by default. Please use a keyword field "
                f"instead. Alternatively, set fielddata=true on [{key.field}] in order to load field data by "
                "uninverting the inverted index. Note that this can use significant memory."
            )
        if any(t is not None and t not in SORTABLE_TYPES for t in types):
            return f"Field [{key.field}] of type [{next(t for t in types if t)}] does not support sorting"
    return None


def sort_value(key: SortKey, candidate: Candidate) -> Any:
    if key.field == "_score":
        return candidate.score
    if key.field == "_doc":
        return candidate.document.seq_no
    values = values_at(candidate.document, candidate.index, key.field)
    if not values:
        return None
    return max(values, key=_order_key) if key.descending else min(values, key=_order_key)


def _order_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def sort_candidates(candidates: list[Candidate], keys: list[SortKey]) -> list[Candidate]:
    ordered = sorted(candidates, key=lambda c: (c.index.name, c.document.seq_no))
    if not keys:
        return sorted(ordered, key=lambda c: -c.score)
    for key in reversed(keys):
        present = [c for c in ordered if sort_value(key, c) is not None]
        absent = [c for c in ordered if sort_value(key, c) is None]
        present.sort(key=lambda c, k=key: _order_key(sort_value(k, c)), reverse=key.descending)  # type: ignore[misc]
        ordered = absent + present if key.missing_first else present + absent
    return ordered
