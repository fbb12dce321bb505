"""Trained models: the packaged ELSER catalogue, PUT with its timed download, listing, and the
built-in `lang_ident_model_1` (es-wire.md §D.1, §D.3, §D.4)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sidecar.devcluster.errors import illegal_argument, model_not_found
from sidecar.devcluster.license import require_ml_license
from sidecar.devcluster.state import ClusterState, Deployment, TrainedModel, now_millis
from sidecar.domain.errors import (
    action_request_validation_exception,
    resource_already_exists,
    resource_not_found,
    status_exception,
)

MODEL_REPOSITORY = "https://ml-models.elastic.co"


NATIVE_INDEX = ".ml-inference-native-000002"


DEFAULT_RESULTS_FIELD = "predicted_value"


DEFAULT_INPUT_FIELD = "text_field"


@dataclass(frozen=True)
class ModelPackage:
    model_id: str
    size: int
    description: str
    minimum_version: str
    platform: str | None = None


PACKAGES = {
    package.model_id: package
    for package in (
        ModelPackage(".elser_model_2", 438123914, "Elastic Learned Sparse EncodeR v2", "11.0.0"),
        ModelPackage(
            ".elser_model_2_linux-x86_64",
            274756282,
            "Elastic Learned Sparse EncodeR v2, optimized for linux-x86_64",
            "11.0.0",
            "linux-x86_64",
        ),
        ModelPackage(".elser_model_2_SNAPSHOT", 438123914, "Elastic Learned Sparse EncodeR v2 (snapshot)", "11.0.0"),
        ModelPackage(
            ".elser_model_2_linux-x86_64_SNAPSHOT",
            274756282,
            "Elastic Learned Sparse EncodeR v2, optimized for linux-x86_64 (snapshot)",
            "11.0.0",
            "linux-x86_64",
        ),
        ModelPackage(".elser_model_1", 438123914, "Elastic Learned Sparse EncodeR v1", "8.7.0"),
    )
}


LANG_IDENT_ID = "lang_ident_model_1"


def lang_ident_model() -> TrainedModel:
    config = {
        "model_id": LANG_IDENT_ID,
        "model_type": "lang_ident",
        "created_by": "_xpack",
        "version": "7.6.0",
        "create_time": 1575548914594,
        "model_size_bytes": 1053992,
        "estimated_operations": 39629,
        "license_level": "basic",
        "description": "Model used for identifying language from arbitrary input text.",
        "tags": ["lang_ident", "prepackaged"],
        "input": {"field_names": ["text"]},
        "inference_config": {
            "classification": {
                "num_top_classes": 0,
                "top_classes_results_field": "top_classes",
                "results_field": "predicted_value",
                "num_top_feature_importance_values": 0,
                "prediction_field_type": "string",
            }
        },
    }
    return TrainedModel(LANG_IDENT_ID, config, 1053992, fully_defined=True, deployable=False, built_in=True)


def all_models(state: ClusterState) -> dict[str, TrainedModel]:
    models = {LANG_IDENT_ID: lang_ident_model()}
    models.update(state.ml.models)
    return dict(sorted(models.items()))


def ml_config_version(state: ClusterState) -> str:
    major, minor, _ = state.config.version_tuple
    return f"{minor}.0.0" if major == 8 and minor >= 10 else "12.0.0"


PUT_FIELDS = frozenset(
    {
        "input",
        "inference_config",
        "description",
        "tags",
        "metadata",
        "model_type",
        "platform_architecture",
        "prefix_strings",
        "compressed_definition",
        "definition",
        "estimated_heap_memory_usage_bytes",
        "estimated_operations",
        "default_field_map",
        "model_size_bytes",
        "location",
    }
)


def put_model(state: ClusterState, model_id: str, body: dict[str, Any]) -> TrainedModel:
    require_ml_license(state)
    if model_id in state.ml.models or model_id == LANG_IDENT_ID:
        raise resource_already_exists(f"Trained machine learning model [{model_id}] already exists")
    if model_id in state.ml.deployments:
        raise status_exception(f"Cannot create model [{model_id}] the id is the same as an current model deployment")
    package = PACKAGES.get(model_id)
    if package is None:
        if model_id.startswith("."):
            raise resource_not_found(f"Could not find trained model package [{model_id[1:]}]")
        raise illegal_argument(
            f"the Elasticsearch stand-in only serves packaged models {sorted(PACKAGES)}, not [{model_id}]"
        )
    if not isinstance(body.get("input"), dict):
        raise action_request_validation_exception(["[input] must not be null"])
    model = TrainedModel(
        model_id,
        packaged_config(state, package, body),
        package.size,
        fully_defined=False,
        platform_architecture=package.platform,
    )
    model.download = asyncio.get_running_loop().create_task(_download(model, state.config.download_delay))
    state.ml.models[model_id] = model
    return model


def packaged_config(state: ClusterState, package: ModelPackage, body: dict[str, Any]) -> dict[str, Any]:
    name = package.model_id[1:]
    config: dict[str, Any] = {
        "model_id": package.model_id,
        "model_type": "pytorch",
        "model_package": {
            "packaged_model_id": name,
            "model_repository": MODEL_REPOSITORY,
            "minimum_version": package.minimum_version,
            "size": package.size,
            "sha256": hashlib.sha256(name.encode()).hexdigest(),
            "vocabulary_file": f"{name}.vocab.json",
        },
        "created_by": "api_user",
        "version": ml_config_version(state),
        "create_time": now_millis(),
        "model_size_bytes": 0,
        "estimated_operations": 0,
        "license_level": "platinum",
        "description": package.description,
        "tags": [],
        "input": body["input"],
        "inference_config": {
            "text_expansion": {
                "vocabulary": {"index": NATIVE_INDEX},
                "tokenization": {
                    "bert": {
                        "do_lower_case": True,
                        "with_special_tokens": True,
                        "max_sequence_length": 512,
                        "truncate": "first",
                        "span": -1,
                    }
                },
            }
        },
        "location": {"index": {"name": NATIVE_INDEX}},
    }
    if package.platform is not None:
        config["platform_architecture"] = package.platform
    return config


async def _download(model: TrainedModel, delay: float) -> None:
    await asyncio.sleep(delay)
    model.fully_defined = True


async def wait_for_download(model: TrainedModel) -> None:
    if model.download is not None and not model.download.done():
        await asyncio.shield(model.download)


def match_models(state: ClusterState, expression: str | None, allow_no_match: bool) -> list[TrainedModel]:
    models = all_models(state)
    parts = [p.strip() for p in (expression or "_all").split(",") if p.strip()]
    chosen: dict[str, TrainedModel] = {}
    for part in parts:
        if part in ("_all", "*") or "*" in part:
            pattern = re.compile(re.escape(part).replace(r"\*", ".*")) if part != "_all" else re.compile(".*")
            found = [m for mid, m in models.items() if pattern.fullmatch(mid)]
            if not found and not allow_no_match:
                raise model_not_found(part)
        else:
            model = models.get(part)
            if model is None:
                raise model_not_found(part)
            found = [model]
        for model in found:
            chosen.setdefault(model.model_id, model)
    return sorted(chosen.values(), key=lambda m: m.model_id)


def render_config(model: TrainedModel, include_definition_status: bool) -> dict[str, Any]:
    config = dict(model.config)
    if include_definition_status:
        config["fully_defined"] = model.fully_defined
    return config


def deployments_of(state: ClusterState, model_id: str) -> list[Deployment]:
    return sorted((d for d in state.ml.deployments.values() if d.model_id == model_id), key=lambda d: d.deployment_id)


def model_input_field(state: ClusterState, model_id: str) -> str:
    model = state.ml.models.get(model_id)
    field_names = (model.config.get("input") or {}).get("field_names") if model is not None else None
    return str(field_names[0]) if field_names else DEFAULT_INPUT_FIELD
