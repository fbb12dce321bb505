"""Load the service plugins: the built-in table plus the `inference_sidecar.services` entry points."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from plugins import BUILTIN_SERVICES
from sidecar.domain.service import InferenceService, ServiceContext

ENTRY_POINT_GROUP = "inference_sidecar.services"


def import_string(target: str) -> type[InferenceService]:
    module_name, _, class_name = target.partition(":")
    service_class = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(service_class, type) and issubclass(service_class, InferenceService)):
        raise TypeError(f"{target} is not an InferenceService")
    return service_class


def discover_services() -> dict[str, str]:
    table = dict(BUILTIN_SERVICES)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        table[entry_point.name] = entry_point.value
    return table


def load_services(context: ServiceContext) -> dict[str, InferenceService]:
    return {name: import_string(target)(context) for name, target in discover_services().items()}
