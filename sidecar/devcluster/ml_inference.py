"""`_infer` on a deployment (or a model's deployment) with the ELSER stand-in (es-wire.md §D.6)."""

from __future__ import annotations

from typing import Any

from sidecar.devcluster.elser import expand
from sidecar.devcluster.errors import conflict
from sidecar.devcluster.license import require_ml_license
from sidecar.devcluster.ml_models import (
    DEFAULT_RESULTS_FIELD,
    all_models,
    deployments_of,
    model_input_field,
)
from sidecar.devcluster.state import ClusterState, Deployment, now_millis
from sidecar.domain.errors import resource_not_found, status_exception


def find_deployment(state: ClusterState, model_or_deployment_id: str) -> Deployment:
    deployment = state.ml.deployments.get(model_or_deployment_id)
    if deployment is None:
        candidates = deployments_of(state, model_or_deployment_id)
        started = [d for d in candidates if d.state == "started"]
        deployment = next(iter(started or candidates), None)
    if deployment is None:
        if model_or_deployment_id in all_models(state):
            raise conflict(
                f"Model [{model_or_deployment_id}] must be deployed to use. Please deploy with the start trained "
                "model deployment API."
            )
        raise resource_not_found(f"Could not find trained model [{model_or_deployment_id}]")
    if deployment.state != "started":
        raise conflict(f"Trained model deployment [{deployment.deployment_id}] is not allocated to any nodes")
    return deployment


def infer(
    state: ClusterState, model_or_deployment_id: str, docs: list[Any], results_field: str | None = None
) -> list[dict[str, Any]]:
    require_ml_license(state)
    deployment = find_deployment(state, model_or_deployment_id)
    model = state.ml.models.get(deployment.model_id)
    config = model.config if model is not None else {}
    input_field = model_input_field(state, deployment.model_id)
    field = results_field or config.get("inference_config", {}).get("text_expansion", {}).get(
        "results_field", DEFAULT_RESULTS_FIELD
    )
    results = []
    for position, doc in enumerate(docs):
        text = doc.get(input_field) if isinstance(doc, dict) else None
        if text is None:
            raise status_exception(f"Input field [{input_field}] does not exist in the source document")
        if not isinstance(text, str):
            raise status_exception(f"Input value [{text}] for field [{input_field}] must be a string")
        expansion = expand(text)
        result: dict[str, Any] = {field: expansion.tokens}
        if expansion.is_truncated:
            result["is_truncated"] = True
        results.append(result)
        routing = deployment.routing[position % len(deployment.routing)]
        routing.inference_count += 1
        routing.total_inference_ms += 1.0
        routing.last_access = now_millis()
    return results


def infer_texts(state: ClusterState, model_or_deployment_id: str, texts: list[Any]) -> list[dict[str, Any]]:
    """Infer on bare inputs, each placed in the model's own input field."""
    deployment = find_deployment(state, model_or_deployment_id)
    input_field = model_input_field(state, deployment.model_id)
    return infer(state, model_or_deployment_id, [{input_field: text} for text in texts], DEFAULT_RESULTS_FIELD)
