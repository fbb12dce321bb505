"""Index metadata: names, settings, creation (explicit and automatic), aliases, name resolution
with ES's hidden-index rules, and the shard counts every write answer carries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sidecar.devcluster.errors import illegal_argument, index_already_exists, index_not_found, invalid_index_name
from sidecar.devcluster.mapping import normalise_mappings
from sidecar.devcluster.nodes import cluster_nodes
from sidecar.devcluster.security import is_restricted, name_matches
from sidecar.devcluster.state import AliasProperties, ClusterState, Index, random_uuid
from sidecar.domain.errors import ElasticsearchError

_FORBIDDEN_CHARACTERS = ("\\", "/", "*", "?", '"', "<", ">", "|", " ", ",", "#", ":")
_PUBLIC_SETTINGS = frozenset(
    {
        "index.number_of_shards",
        "index.number_of_replicas",
        "index.auto_expand_replicas",
        "index.hidden",
        "index.refresh_interval",
        "index.default_pipeline",
        "index.final_pipeline",
        "index.max_result_window",
        "index.codec",
        "index.priority",
        "index.max_inner_result_window",
        "index.routing_partition_size",
        "index.number_of_routing_shards",
        "index.write.wait_for_active_shards",
        "index.format",
    }
)
_PUBLIC_SETTING_PREFIXES = (
    "index.mapping.",
    "index.analysis.",
    "index.routing.",
    "index.blocks.",
    "index.lifecycle.",
    "index.similarity.",
    "index.sort.",
    "index.store.",
    "index.translog.",
    "index.merge.",
    "index.search.",
    "index.indexing.",
    "index.query.",
    "index.unassigned.",
    "index.shard.",
    "index.highlight.",
)
_PRIVATE_SETTINGS = ("index.uuid", "index.creation_date", "index.provided_name", "index.version.created")


def dot_index_warning(name: str) -> str:
    return (
        f"index name [{name}] starts with a dot '.', in the next major version, index names starting with a "
        "dot are reserved for hidden indices and system indices"
    )


def validate_index_name(state: ClusterState, name: str) -> None:
    if name != name.lower():
        raise invalid_index_name(name, "must be lowercase")
    if name in (".", ".."):
        raise invalid_index_name(name, "must not be '.' or '..'")
    if name.startswith(("_", "-", "+")):
        raise invalid_index_name(name, "must not start with '_', '-', or '+'")
    bad = [ch for ch in _FORBIDDEN_CHARACTERS if ch in name]
    if bad:
        listed = ", ".join(_FORBIDDEN_CHARACTERS[:-1])
        raise invalid_index_name(name, f"must not contain the following characters [{listed}]")
    if len(name.encode()) > 255:
        raise invalid_index_name(name, "index name is too long, (" + str(len(name.encode())) + " > 255)")
    if alias_exists(state, name):
        raise ElasticsearchError(
            400,
            "invalid_index_name_exception",
            f"Invalid index name [{name}], already exists as alias",
            metadata={"index_uuid": "_na_", "index": name},
        )


def flatten_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in settings.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_settings(value, f"{full}."))
        elif isinstance(value, list):
            flat[full] = ",".join(_setting_text(v) for v in value)
        else:
            flat[full] = _setting_text(value)
    return {k if k.startswith("index.") else f"index.{k}": v for k, v in flat.items()}


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def validate_settings(settings: dict[str, str]) -> None:
    for key in settings:
        if key in _PRIVATE_SETTINGS:
            raise illegal_argument(f"private index setting [{key}] can not be set explicitly")
        if key not in _PUBLIC_SETTINGS and not key.startswith(_PUBLIC_SETTING_PREFIXES):
            raise illegal_argument(
                f"unknown setting [{key}] please check that any required plugins are installed, or check the "
                "breaking changes documentation for removed settings"
            )
    for key in ("index.number_of_shards", "index.number_of_replicas"):
        if key in settings and not settings[key].lstrip("-").isdigit():
            raise illegal_argument(f"Failed to parse value [{settings[key]}] for setting [{key}]")


def create_index(state: ClusterState, name: str, body: dict[str, Any], warnings: list[str]) -> Index:
    validate_index_name(state, name)
    if name in state.indices.indices:
        existing = state.indices.indices[name]
        raise index_already_exists(name, existing.uuid)
    settings = flatten_settings(body.get("settings") or {})
    validate_settings(settings)
    mappings = normalise_mappings(body.get("mappings") or {})
    aliases = parse_alias_definitions(state, name, body.get("aliases") or {})
    settings.setdefault("index.number_of_shards", "1")
    settings.setdefault("index.number_of_replicas", "1")
    index = Index(name=name, uuid=random_uuid(), settings=settings, mappings=mappings, aliases=aliases)
    if name.startswith(".") and not index.hidden and not is_restricted(state, name):
        warnings.append(dot_index_warning(name))
    for alias in aliases:
        check_single_write_index(state, alias, extra=index)
    state.indices.indices[name] = index
    return index


def auto_create_index(state: ClusterState, name: str, warnings: list[str]) -> Index:
    return create_index(state, name, {}, warnings)


def parse_alias_definitions(state: ClusterState, index_name: str, aliases: Any) -> dict[str, AliasProperties]:
    if not isinstance(aliases, dict):
        raise illegal_argument("aliases must be an object")
    parsed: dict[str, AliasProperties] = {}
    for alias, definition in aliases.items():
        validate_alias_name(state, alias, index_name)
        parsed[alias] = alias_properties(definition or {})
    return parsed


def alias_properties(definition: dict[str, Any]) -> AliasProperties:
    return AliasProperties(
        is_write_index=definition.get("is_write_index"),
        is_hidden=definition.get("is_hidden"),
        filter=definition.get("filter"),
        routing=definition.get("routing") or definition.get("index_routing"),
    )


def validate_alias_name(state: ClusterState, alias: str, index_name: str) -> None:
    if alias in state.indices.indices or alias == index_name:
        raise ElasticsearchError(
            400,
            "invalid_alias_name_exception",
            f"Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias",
            metadata={"index_uuid": "_na_", "index": alias},
        )
    if alias.startswith(("_", "-", "+")) or alias != alias.lower():
        raise ElasticsearchError(
            400,
            "invalid_alias_name_exception",
            f"Invalid alias name [{alias}]: must not start with '_', '-', or '+'",
            metadata={"index_uuid": "_na_", "index": alias},
        )


def check_single_write_index(state: ClusterState, alias: str, extra: Index | None = None) -> None:
    members = indices_of_alias(state, alias) + ([extra] if extra is not None else [])
    writers = [index.name for index in members if index.aliases[alias].is_write_index]
    if len(writers) > 1:
        raise ElasticsearchError(
            500, "illegal_state_exception", f"alias [{alias}] has more than one write index [{','.join(writers)}]"
        )


def render_alias(properties: AliasProperties) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    if properties.filter is not None:
        rendered["filter"] = properties.filter
    if properties.routing is not None:
        rendered["index_routing"] = properties.routing
        rendered["search_routing"] = properties.routing
    if properties.is_write_index is not None:
        rendered["is_write_index"] = properties.is_write_index
    if properties.is_hidden is not None:
        rendered["is_hidden"] = properties.is_hidden
    return rendered


def alias_exists(state: ClusterState, alias: str) -> bool:
    return any(alias in index.aliases for index in state.indices.indices.values())


def indices_of_alias(state: ClusterState, alias: str) -> list[Index]:
    return [index for index in state.indices.indices.values() if alias in index.aliases]


def render_settings(state: ClusterState, index: Index) -> dict[str, Any]:
    major, minor, patch = state.config.version_tuple
    flat = {
        **index.settings,
        "index.creation_date": str(index.creation_date),
        "index.uuid": index.uuid,
        "index.provided_name": index.name,
        "index.version.created": f"{major}{minor:02d}{patch:02d}99",
    }
    nested: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    return nested


# --- resolution -----------------------------------------------------------------------------


@dataclass
class WildcardOptions:
    expand_open: bool = True
    expand_hidden: bool = False

    @classmethod
    def parse(cls, value: str | None, default: str = "open") -> WildcardOptions:
        states = {s.strip() for s in (value or default).split(",") if s.strip()}
        unknown = states - {"open", "closed", "hidden", "none", "all"}
        if unknown:
            raise illegal_argument(
                "No enum constant org.elasticsearch.action.support.IndicesOptions.WildcardStates."
                + sorted(unknown)[0].upper()
            )
        if "all" in states:
            return cls(True, True)
        if "none" in states:
            return cls(False, False)
        return cls("open" in states, "hidden" in states)


def resolve_expressions(
    state: ClusterState,
    expression: str | None,
    *,
    wildcards: WildcardOptions,
    ignore_unavailable: bool = False,
    allow_no_indices: bool = True,
    visible: Callable[[str], bool] = lambda _: True,
) -> list[Index]:
    """Index names, aliases, wildcards and `_all` into concrete indices, in ES's order of mention."""
    parts = [p.strip() for p in (expression or "").split(",") if p.strip()]
    if not parts or parts == ["_all"]:
        parts = ["*"]
    resolved: dict[str, Index] = {}
    saw_wildcard = False
    for part in parts:
        if part.startswith("-") and saw_wildcard:
            for name in [n for n in resolved if name_matches(n, part[1:])]:
                del resolved[name]
            continue
        if "*" in part:
            saw_wildcard = True
            matched = _expand_wildcard(state, part, wildcards, visible)
            if not matched and not allow_no_indices:
                raise index_not_found(part)
            for index in matched:
                resolved.setdefault(index.name, index)
            continue
        concrete = _explicit(state, part)
        if not concrete:
            if ignore_unavailable:
                continue
            raise index_not_found(part)
        for index in concrete:
            resolved.setdefault(index.name, index)
    if not resolved and not allow_no_indices:
        raise index_not_found(expression or "_all")
    return list(resolved.values())


def _explicit(state: ClusterState, name: str) -> list[Index]:
    if name in state.indices.indices:
        return [state.indices.indices[name]]
    return indices_of_alias(state, name)


def _expand_wildcard(
    state: ClusterState, pattern: str, wildcards: WildcardOptions, visible: Callable[[str], bool]
) -> list[Index]:
    if not wildcards.expand_open:
        return []

    def shown(hidden: bool, name: str) -> bool:
        return not hidden or wildcards.expand_hidden or (pattern.startswith(".") and name.startswith("."))

    found: dict[str, Index] = {}
    for index in sorted(state.indices.indices.values(), key=lambda i: i.name):
        if name_matches(index.name, pattern) and shown(index.hidden, index.name) and visible(index.name):
            found.setdefault(index.name, index)
        for alias, properties in index.aliases.items():
            if name_matches(alias, pattern) and shown(bool(properties.is_hidden), alias) and visible(index.name):
                found.setdefault(index.name, index)
    return list(found.values())


def write_index(state: ClusterState, name: str, *, require_alias: bool = False) -> Index | None:
    """The index a write to `name` lands in; None when nothing of that name exists (auto-create)."""
    if name in state.indices.indices:
        if require_alias:
            raise _require_alias_error(name)
        return state.indices.indices[name]
    members = indices_of_alias(state, name)
    if not members:
        if require_alias:
            raise _require_alias_error(name)
        return None
    writers = [index for index in members if index.aliases[name].is_write_index]
    if writers:
        return writers[0]
    if len(members) == 1 and members[0].aliases[name].is_write_index is None:
        return members[0]
    raise illegal_argument(
        f"no write index is defined for alias [{name}]. The write index may be explicitly disabled using "
        "is_write_index=false or the alias points to multiple indices without one being designated as a write index"
    )


def _require_alias_error(name: str) -> ElasticsearchError:
    error = index_not_found(name)
    error.reason = f"[require_alias] request flag is [true] and [{name}] is not an alias"
    return error


def single_index(state: ClusterState, name: str) -> Index:
    """A read of one document: an index, or an alias with exactly one index."""
    if name in state.indices.indices:
        return state.indices.indices[name]
    members = indices_of_alias(state, name)
    if not members:
        raise index_not_found(name)
    if len(members) > 1:
        names = ", ".join(sorted(index.name for index in members))
        raise illegal_argument(
            f"alias [{name}] has more than one index associated with it [{names}], can't execute a single index op"
        )
    return members[0]


# --- shards ---------------------------------------------------------------------------------


def replica_counts(state: ClusterState, index: Index) -> tuple[int, int]:
    """(replicas wanted, replicas assigned) on the stand-in's nodes."""
    node_count = len(cluster_nodes(state.config))
    auto = index.settings.get("index.auto_expand_replicas", "false")
    if auto != "false" and "-" in auto:
        low_text, high_text = auto.split("-", 1)
        low = int(low_text)
        high = node_count - 1 if high_text == "all" else int(high_text)
        wanted = max(low, min(high, node_count - 1))
    else:
        wanted = index.configured_replicas
    return wanted, min(wanted, node_count - 1)


def shard_header(state: ClusterState, index: Index) -> dict[str, int]:
    wanted, assigned = replica_counts(state, index)
    return {"total": 1 + wanted, "successful": 1 + assigned, "failed": 0}


def shard_totals(state: ClusterState, indices: list[Index]) -> dict[str, int]:
    total = successful = 0
    for index in indices:
        header = shard_header(state, index)
        primaries = int(index.settings.get("index.number_of_shards", "1"))
        total += primaries * header["total"]
        successful += primaries * header["successful"]
    return {"total": total, "successful": successful, "failed": 0}
