from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("inference-sidecar")
except PackageNotFoundError:  # a source checkout that is not installed
    VERSION = "0.0.0+source"
