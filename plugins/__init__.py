"""The table of built-in inference services: service name -> "module:Class".

Third-party packages add services through the `inference_sidecar.services` entry-point group; the
built-ins are registered through the same group in pyproject.toml and listed here as the fallback
for a source checkout that is not installed.
"""

BUILTIN_SERVICES: dict[str, str] = {
    "elser": "plugins.elser:ElserService",
    "openai": "plugins.openai:OpenAiService",
    "hugging_face": "plugins.hugging_face:HuggingFaceService",
    "hugging_face_elser": "plugins.hugging_face:HuggingFaceElserService",
}
