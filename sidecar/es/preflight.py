"""The preflight: cluster reachable and of a supported version, the service account's privileges,
and the sidecar's indices created or upgraded. Used by `inference-sidecar check` and at startup."""

from __future__ import annotations

from dataclasses import dataclass, field

from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from sidecar.registry.indices import IndexNames, bootstrap_indices
from sidecar.security.privileges import Authorizer

SUPPORTED_MAJORS = (8, 9)
SERVICE_ACCOUNT_CLUSTER_PRIVILEGES = ["monitor", "manage_ml"]
SERVICE_ACCOUNT_INDEX_PRIVILEGES = ["manage", "read", "write"]


@dataclass
class PreflightReport:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    version: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


async def run_preflight(
    es: AsyncElasticsearch, names: IndexNames, authorizer: Authorizer, prefix: str
) -> PreflightReport:
    report = PreflightReport()
    try:
        info = await es.info()
    except ApiError as exc:
        report.problems.append(f"cannot read cluster info: HTTP {exc.meta.status} {_reason(exc)}")
        return report
    except TransportError as exc:
        report.problems.append(f"cannot connect to Elasticsearch: {type(exc).__name__}")
        return report
    report.version = str(info["version"]["number"])
    major = int(report.version.split(".")[0])
    if major not in SUPPORTED_MAJORS:
        report.problems.append(f"Elasticsearch {report.version} is not supported; 8.x or 9.x is required")
        return report
    try:
        if await authorizer.detect_security():
            await _check_own_privileges(es, prefix, report)
        else:
            report.notes.append("cluster security is disabled")
        report.notes.extend(await bootstrap_indices(es, names))
    except ApiError as exc:
        report.problems.append(f"HTTP {exc.meta.status} {_reason(exc)}")
    except TransportError as exc:
        report.problems.append(f"lost the connection to Elasticsearch: {type(exc).__name__}")
    return report


async def _check_own_privileges(es: AsyncElasticsearch, prefix: str, report: PreflightReport) -> None:
    pattern = f"{prefix}*"
    response = await es.security.has_privileges(
        cluster=SERVICE_ACCOUNT_CLUSTER_PRIVILEGES,
        index=[{"names": [pattern], "privileges": SERVICE_ACCOUNT_INDEX_PRIVILEGES}],
    )
    missing = [name for name, granted in response["cluster"].items() if not granted]
    missing += [
        f"{privilege} on [{pattern}]"
        for privilege, granted in response["index"].get(pattern, {}).items()
        if not granted
    ]
    if missing:
        report.problems.append(
            f"the sidecar's account [{response['username']}] lacks the privileges: {', '.join(missing)}"
        )


def _reason(exc: ApiError) -> str:
    error = exc.body.get("error") if isinstance(exc.body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error or exc.message)
