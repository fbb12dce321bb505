"""A service installed by another distribution, through the `inference_sidecar.services` entry points."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sidecar.plugin_loader import discover_services
from tests.api.conftest import ADMIN, start_sidecar

PLUGIN_SOURCE = '''
from typing import Any, ClassVar

from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import Embedding, TextEmbedding
from sidecar.domain.service import InferenceService
from sidecar.domain.settings_map import remove_map_or_throw, throw_if_not_empty
from sidecar.domain.task_type import TaskType


class EchoService(InferenceService):
    name: ClassVar[str] = "echo"
    task_types: ClassVar[frozenset[TaskType]] = frozenset({TaskType.TEXT_EMBEDDING})

    def parse_request(self, model_id: str, task_type: TaskType, config: dict[str, Any]) -> Model:
        self.check_task_type(task_type)
        settings = remove_map_or_throw(config, "service_settings")
        scale = settings.pop("scale", 1)
        throw_if_not_empty(config, self.name)
        throw_if_not_empty(settings, self.name)
        return Model(ModelConfig(model_id, task_type, self.name, {"scale": scale}, {}))

    async def infer(self, model: Model, inputs: list[str]) -> list[Embedding]:
        scale = model.config.service_settings["scale"]
        return [TextEmbedding([float(len(text) * scale)]) for text in inputs]
'''


@pytest.fixture
def echo_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "echo_service.py").write_text(PLUGIN_SOURCE)
    dist_info = tmp_path / "echo_service-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-service\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [inference_sidecar.services]
            echo = echo_service:EchoService
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("echo_service", None)


def test_built_ins_and_third_party_services_are_discovered(echo_distribution: None) -> None:
    table = discover_services()
    assert table["echo"] == "echo_service:EchoService"
    assert table["elser"] == "plugins.elser:ElserService"


async def test_a_third_party_service_works_like_a_built_in(echo_distribution: None, make_settings: Any) -> None:
    client = await start_sidecar(make_settings())
    try:
        response = await client.put(
            "/_inference/text_embedding/echo-model",
            json={"service": "echo", "service_settings": {"scale": 2}},
            headers=ADMIN,
        )
        assert (response.status, await response.json()) == (
            200,
            {
                "model_id": "echo-model",
                "task_type": "text_embedding",
                "service": "echo",
                "service_settings": {"scale": 2},
                "task_settings": {},
            },
        )
        response = await client.post("/_inference/text_embedding/echo-model", json={"input": ["abc", "a"]}, headers=ADMIN)
        assert (response.status, await response.json()) == (
            200, {"text_embedding": [{"embedding": [6.0]}, {"embedding": [2.0]}]}
        )
        response = await client.put(
            "/_inference/sparse_embedding/echo-2", json={"service": "echo", "service_settings": {}}, headers=ADMIN
        )
        assert (await response.json())["error"]["reason"] == "The [echo] service does not support task type [sparse_embedding]"
    finally:
        await client.close()
