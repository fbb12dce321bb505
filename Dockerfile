# syntax=docker/dockerfile:1
#
# Image of the Elasticsearch inference sidecar.
#
#   docker build -t inference-sidecar:dev .
#   docker run --rm -p 9280:9280 -e SIDECAR_SECRETS_KEY=... -e SIDECAR_ES_URL=... inference-sidecar:dev
#
# Two stages: `build` makes a wheel of the project and installs it, with the exact runtime
# dependencies pinned in requirements.lock, into the virtualenv /opt/venv; `runtime` is a fresh slim
# image that receives only that virtualenv. Every runtime dependency ships manylinux wheels, so
# neither stage needs a compiler.
#
# The runtime image is friendly to a read-only root filesystem: bytecode is compiled at build time,
# PYTHONDONTWRITEBYTECODE stops Python from writing more, and nothing but /tmp (an emptyDir on
# Kubernetes) needs to be writable.

########################################################################################################
FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

WORKDIR /src
RUN python -m venv /opt/venv

# Dependencies first, in their own layer: it is rebuilt only when the pins or pyproject.toml change.
# Hash-checking mode: every file must match a sha256 from requirements.lock.
COPY pyproject.toml requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock

# The project itself, as a wheel installed without dependencies (all of them are already pinned
# above); `pip check` fails the build if the lock no longer satisfies pyproject.toml.
# README.md* : the readme is packaging metadata only; the glob keeps the build working without it.
COPY README.md* ./
COPY sidecar ./sidecar
COPY plugins ./plugins
RUN /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /dist . \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps /dist/*.whl \
    && /opt/venv/bin/pip check

########################################################################################################
FROM python:3.11-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="inference-sidecar" \
      org.opencontainers.image.description="The Elasticsearch _inference API as a sidecar service" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    HOME=/tmp

# A fixed, non-root uid/gid so that Kubernetes' runAsNonRoot/runAsUser can check it.
RUN groupadd --system --gid 10001 sidecar \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin sidecar

# Only the virtualenv crosses over: no wheel cache, no sources, no build tools. Owned by root and
# read-only for the service user.
COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

EXPOSE 9280

# Liveness of the process (Kubernetes ignores HEALTHCHECK and uses the chart's probes). The slim image
# has no curl, so python's urllib asks; any answer other than 2xx raises and exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SIDECAR_PORT', '9280') + '/_sidecar/health/live', timeout=4)"]

# The application handles SIGTERM itself (readiness 503, grace, drain), so it runs as PID 1 directly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["inference-sidecar"]
CMD ["serve"]
