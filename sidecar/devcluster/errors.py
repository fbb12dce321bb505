"""Error bodies that only the stand-in produces (ES's own messages, verbatim where recorded)."""

from __future__ import annotations

from typing import Any

from sidecar.domain.errors import ElasticsearchError, security_exception, status_exception

WWW_AUTHENTICATE = ['Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]


def unauthenticated(reason: str, **metadata: Any) -> ElasticsearchError:
    return ElasticsearchError(
        401, "security_exception", reason, metadata=metadata, headers={"WWW-Authenticate": list(WWW_AUTHENTICATE)}
    )


def missing_credentials(uri: str) -> ElasticsearchError:
    return unauthenticated(f"missing authentication credentials for REST request [{uri}]")


def forbidden(reason: str) -> ElasticsearchError:
    return security_exception(403, reason)


def license_non_compliant(feature: str = "ml") -> ElasticsearchError:
    return ElasticsearchError(
        403,
        "security_exception",
        f"current license is non-compliant for [{feature}]",
        metadata={"license.expired.feature": feature},
    )


def index_not_found(name: str) -> ElasticsearchError:
    return ElasticsearchError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        metadata={"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name},
    )


def index_already_exists(name: str, index_uuid: str) -> ElasticsearchError:
    return ElasticsearchError(
        400,
        "resource_already_exists_exception",
        f"index [{name}/{index_uuid}] already exists",
        metadata={"index_uuid": index_uuid, "index": name},
    )


def invalid_index_name(name: str, why: str) -> ElasticsearchError:
    return ElasticsearchError(
        400,
        "invalid_index_name_exception",
        f"Invalid index name [{name}], {why}",
        metadata={"index_uuid": "_na_", "index": name},
    )


def version_conflict(doc_id: str, detail: str, index: str, index_uuid: str) -> ElasticsearchError:
    return ElasticsearchError(
        409,
        "version_conflict_engine_exception",
        f"[{doc_id}]: version conflict, {detail}",
        metadata={"index_uuid": index_uuid, "shard": "0", "index": index},
    )


def strict_dynamic_mapping(location: str, field: str, parent: str = "_doc") -> ElasticsearchError:
    return ElasticsearchError(
        400,
        "strict_dynamic_mapping_exception",
        f"[{location}] mapping set to strict, dynamic introduction of [{field}] within [{parent}] is not allowed",
    )


def illegal_argument(reason: str, caused_by: dict[str, Any] | None = None) -> ElasticsearchError:
    return ElasticsearchError(400, "illegal_argument_exception", reason, caused_by=caused_by)


def x_content_parse(location: str, message: str) -> ElasticsearchError:
    return ElasticsearchError(400, "x_content_parse_exception", f"[{location}] {message}")


def unknown_field(location: str, parser: str, field: str) -> ElasticsearchError:
    return x_content_parse(location, f"[{parser}] unknown field [{field}]")


def body_not_supported(method: str, path: str) -> ElasticsearchError:
    return illegal_argument(f"request [{method} {path}] does not support having a body")


def body_required() -> ElasticsearchError:
    return ElasticsearchError(400, "parse_exception", "request body is required")


def unrecognized_parameters(path: str, unknown: list[str], known: set[str]) -> ElasticsearchError:
    parts = []
    for name in unknown:
        suggestions = did_you_mean(name, known)
        if not suggestions:
            parts.append(f"[{name}]")
        elif len(suggestions) == 1:
            parts.append(f"[{name}] -> did you mean [{suggestions[0]}]?")
        else:
            parts.append(f"[{name}] -> did you mean any of [{', '.join(suggestions)}]?")
    noun = "parameter" if len(unknown) == 1 else "parameters"
    return illegal_argument(f"request [{path}] contains unrecognized {noun}: {', '.join(parts)}")


def did_you_mean(name: str, candidates: set[str]) -> list[str]:
    scored = [(levenshtein_similarity(name, c), c) for c in candidates]
    return [c for score, c in sorted(scored, key=lambda sc: (-sc[0], sc[1])) if score > 0.5]


def levenshtein_similarity(a: str, b: str) -> float:
    """Lucene's LevenshteinDistance: 1 - edits / longest length."""
    if not a or not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


def media_type_error(detail: str) -> ElasticsearchError:
    return ElasticsearchError(
        400,
        "media_type_header_exception",
        "Invalid media-type value on headers [Accept, Content-Type]",
        caused_by={"type": "status_exception", "reason": detail},
    )


def model_not_found(model_id: str) -> ElasticsearchError:
    return ElasticsearchError(404, "resource_not_found_exception", f"No known trained model with model_id [{model_id}]")


def deployment_not_found(deployment_id: str) -> ElasticsearchError:
    return ElasticsearchError(
        404, "resource_not_found_exception", f"No known model deployment with id [{deployment_id}]"
    )


def conflict(reason: str) -> ElasticsearchError:
    return status_exception(reason, 409)
