"""Ingest pipeline REST routes: put, get, delete and `_simulate`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sidecar.devcluster.ingest import run_pipeline, validate_pipeline
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.security import name_matches
from sidecar.devcluster.state import Pipeline
from sidecar.devcluster.transport import EsRequest, EsResponse
from sidecar.domain.errors import ElasticsearchError, illegal_argument, parse_exception, resource_not_found

PUT = "cluster:admin/ingest/pipeline/put"
GET = "cluster:admin/ingest/pipeline/get"
DELETE = "cluster:admin/ingest/pipeline/delete"
SIMULATE = "cluster:admin/ingest/pipeline/simulate"


async def put_pipeline(req: EsRequest) -> EsResponse:
    body = req.json_object()
    validate_pipeline(body)
    pipeline_id = req.path_params["id"]
    req.state.pipelines[pipeline_id] = Pipeline(pipeline_id, body)
    return EsResponse(body={"acknowledged": True})


async def get_pipeline(req: EsRequest) -> EsResponse:
    wanted = [p.strip() for p in (req.path_params.get("id") or "*").split(",") if p.strip()]
    found = {
        pipeline_id: pipeline.definition
        for pipeline_id, pipeline in sorted(req.state.pipelines.items())
        if any(name_matches(pipeline_id, pattern) for pattern in wanted)
    }
    if not found:  # also when no pipeline exists at all (GetPipelineResponse.status)
        return EsResponse(status=404, body={})
    if req.flag("summary"):
        found = {pipeline_id: {} for pipeline_id in found}
    return EsResponse(body=found)


async def delete_pipeline(req: EsRequest) -> EsResponse:
    pattern = req.path_params["id"]
    doomed = [pid for pid in req.state.pipelines if name_matches(pid, pattern)]
    if not doomed:
        raise resource_not_found(f"pipeline [{pattern}] is missing")
    for pipeline_id in doomed:
        users = sorted(
            index.name
            for index in req.state.indices.indices.values()
            if pipeline_id in (index.settings.get("index.default_pipeline"), index.settings.get("index.final_pipeline"))
        )
        if users:
            raise illegal_argument(
                f"pipeline [{pipeline_id}] cannot be deleted because it is the default pipeline for {len(users)} "
                f"index(es) including [{', '.join(users[:3])}]"
            )
    for pipeline_id in doomed:
        del req.state.pipelines[pipeline_id]
    return EsResponse(body={"acknowledged": True})


async def simulate(req: EsRequest) -> EsResponse:
    body = req.json_object()
    pipeline_id = req.path_params.get("id")
    if pipeline_id is not None:
        pipeline = req.state.pipelines.get(pipeline_id)
        if pipeline is None:
            raise resource_not_found(f"pipeline [{pipeline_id}] does not exist")
        definition = pipeline.definition
    else:
        inline = body.get("pipeline")
        if not isinstance(inline, dict):
            raise ElasticsearchError(
                400,
                "parse_exception",
                "[pipeline] required property is missing",
                metadata={"property_name": "pipeline"},
            )
        validate_pipeline(inline)
        definition = inline
    docs = body.get("docs")
    if not isinstance(docs, list):
        raise ElasticsearchError(
            400, "parse_exception", "[docs] required property is missing", metadata={"property_name": "docs"}
        )
    if not docs:
        raise parse_exception("must specify at least one document in [docs]")
    return EsResponse(body={"docs": [_simulate_one(req, definition, doc) for doc in docs]})


def _simulate_one(req: EsRequest, definition: dict[str, Any], doc: Any) -> dict[str, Any]:
    source = doc.get("_source") if isinstance(doc, dict) else None
    if not isinstance(source, dict):
        return ElasticsearchError(
            400, "parse_exception", "[_source] required property is missing", metadata={"property_name": "_source"}
        ).body()
    try:
        result = run_pipeline(req.state, definition, source)
    except ElasticsearchError as error:
        rendered = error.body()
        return {"error": rendered["error"]}
    if result is None:
        return {"doc": None}
    timestamp = datetime.now(tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {
        "doc": {
            "_index": doc.get("_index", "_index"),
            "_version": str(doc.get("_version", "-3")),
            "_id": doc.get("_id", "_id"),
            "_source": result,
            "_ingest": {"timestamp": timestamp},
        }
    }


def routes() -> list[Route]:
    base = "/_ingest/pipeline"
    return [
        route("PUT", f"{base}/{{id}}", put_pipeline, PUT, ("master_timeout", "timeout", "if_version")),
        route("GET", base, get_pipeline, GET, ("master_timeout", "summary"), body=False),
        route("GET", f"{base}/{{id}}", get_pipeline, GET, ("master_timeout", "summary"), body=False),
        route("DELETE", f"{base}/{{id}}", delete_pipeline, DELETE, ("master_timeout", "timeout")),
        route(("GET", "POST"), f"{base}/_simulate", simulate, SIMULATE, ("verbose",)),
        route(("GET", "POST"), f"{base}/{{id}}/_simulate", simulate, SIMULATE, ("verbose",)),
    ]
