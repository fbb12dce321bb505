"""Which ES action each sidecar action stands for, and which cluster privileges grant a privilege."""

from __future__ import annotations

ACTION_NAMES = {
    "put": "cluster:admin/xpack/inference/put",
    "get": "cluster:admin/xpack/inference/get",
    "delete": "cluster:admin/xpack/inference/delete",
    "infer": "cluster:monitor/xpack/inference",
}

# The privileges that include each one, as ES lists them in "this action is granted by ...".
_GRANTED_BY = {
    "monitor": ["monitor", "manage", "all"],
    "manage": ["manage", "all"],
    "monitor_inference": ["monitor_inference", "manage_inference", "manage", "all"],
    "manage_inference": ["manage_inference", "manage", "all"],
    "all": ["all"],
}


def granted_by(privilege: str) -> list[str]:
    return _GRANTED_BY.get(privilege, [privilege, "all"])
