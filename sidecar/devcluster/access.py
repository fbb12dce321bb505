"""Resolving index expressions for a caller: wildcards only see what the caller may access,
explicit names the caller may not access answer 403 (or are skipped with `ignore_unavailable`)."""

from __future__ import annotations

from sidecar.devcluster.indices import WildcardOptions, indices_of_alias, resolve_expressions
from sidecar.devcluster.state import Index
from sidecar.devcluster.transport import EsRequest


def resolve_for_action(
    req: EsRequest,
    expression: str | None,
    action: str,
    *,
    default_wildcards: str = "open",
    ignore_unavailable: bool | None = None,
    allow_no_indices: bool | None = None,
) -> list[Index]:
    state = req.state
    skip_missing = req.flag("ignore_unavailable") if ignore_unavailable is None else ignore_unavailable
    allow_empty = req.flag("allow_no_indices", True) if allow_no_indices is None else allow_no_indices
    wildcards = WildcardOptions.parse(req.param("expand_wildcards"), default_wildcards)
    denied: set[str] = set()
    for part in [p.strip() for p in (expression or "").split(",") if p.strip()]:
        if "*" in part or part == "_all" or part.startswith("-"):
            continue
        concrete = [state.indices.indices[part]] if part in state.indices.indices else indices_of_alias(state, part)
        blocked = [index.name for index in concrete if not req.index_allowed(action, index.name)]
        if blocked and not skip_missing:
            req.authorize_indices(action, blocked)
        denied.update(blocked)
    resolved = resolve_expressions(
        state,
        expression,
        wildcards=wildcards,
        ignore_unavailable=skip_missing,
        allow_no_indices=allow_empty,
        visible=lambda name: req.index_allowed(action, name),
    )
    allowed = [index for index in resolved if index.name not in denied]
    req.note_system_index_access([index.name for index in allowed])
    return allowed
