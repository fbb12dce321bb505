"""`GET /_license`, and the licence check the ML APIs make."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sidecar.devcluster.errors import illegal_argument, license_non_compliant
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.state import ClusterState
from sidecar.devcluster.transport import EsRequest, EsResponse

DAY_MS = 86_400_000
VALIDITY_DAYS = {"trial": 30}


def iso_millis(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def license_body(state: ClusterState) -> dict[str, Any]:
    license_type = state.config.license_type
    issued = state.license_issued
    body: dict[str, Any] = {
        "status": "active",
        "uid": state.license_uid,
        "type": license_type,
        "issue_date": iso_millis(issued),
        "issue_date_in_millis": issued,
    }
    if license_type != "basic":
        expiry = issued + VALIDITY_DAYS.get(license_type, 365) * DAY_MS
        body["expiry_date"] = iso_millis(expiry)
        body["expiry_date_in_millis"] = expiry
    enterprise = license_type == "enterprise"
    body.update(
        {
            "max_nodes": None if enterprise else 1000,
            "max_resource_units": 100 if enterprise else None,
            "issued_to": state.config.cluster_name,
            "issuer": "elastic" if license_type == "basic" else "elasticsearch",
            "start_date_in_millis": -1,
        }
    )
    return {"license": body}


def require_ml_license(state: ClusterState) -> None:
    if not state.config.ml_licensed:
        raise license_non_compliant("ml")


async def get_license(req: EsRequest) -> EsResponse:
    req.flag("local")
    if req.param("accept_enterprise") is not None and not req.flag("accept_enterprise"):
        raise illegal_argument("The [accept_enterprise] parameters may not be false")
    return EsResponse(body=license_body(req.state))


def routes() -> list[Route]:
    return [route("GET", "/_license", get_license, "cluster:monitor/xpack/license/get", ("local", "accept_enterprise"))]
