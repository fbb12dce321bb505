from typing import Any

from sidecar.es.pipelines import pipelines_referencing


def inference(model_id: str, **extra: Any) -> dict[str, Any]:
    return {"inference": {"model_id": model_id, **extra}}


def nested(depth: int, innermost: dict[str, Any]) -> dict[str, Any]:
    """`innermost` inside `depth` levels of foreach processors."""
    processor = innermost
    for _ in range(depth):
        processor = {"foreach": {"field": "items", "processor": processor}}
    return processor


def test_inference_processors_anywhere_es_looks() -> None:
    pipelines = {
        "top": {"processors": [{"set": {"field": "a", "value": 1}}, inference("e")]},
        "in-foreach": {"processors": [nested(1, inference("e"))]},
        "in-on-failure": {"processors": [{"set": {"field": "a", "value": 1, "on_failure": [inference("e")]}}]},
        "ten-deep": {"processors": [nested(10, inference("e"))]},
        "other-model": {"processors": [inference("other")]},
        "eleven-deep": {"processors": [nested(11, inference("e"))]},  # past ES's limit of 10 nestings
        "pipeline-on-failure": {"processors": [], "on_failure": [inference("e")]},  # ES does not look there
        "inference-on-failure": {"processors": [inference("other", on_failure=[inference("e")])]},  # nor there
    }
    assert pipelines_referencing(pipelines, "e") == ["in-foreach", "in-on-failure", "ten-deep", "top"]
    assert pipelines_referencing(pipelines, "other") == ["inference-on-failure", "other-model"]
    assert pipelines_referencing(pipelines, "nobody") == []


def test_odd_definitions_are_skipped() -> None:
    pipelines = {
        "no-processors": {},
        "not-a-list": {"processors": {"inference": {"model_id": "e"}}},
        "not-an-object": {"processors": ["inference"]},
        "no-model": {"processors": [{"inference": {}}]},
        "foreach-without-processor": {"processors": [{"foreach": {"field": "x"}}]},
        "good": {"processors": [inference("e")]},
    }
    assert pipelines_referencing(pipelines, "e") == ["good"]
