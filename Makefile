# Two commands for a new machine: `make demo` and `make test`. Everything else is detail.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test unit integration lint typecheck demo bench chaos kafka-fetch clean help \
	image image-test mapping-doc bench-capacity

help:
	@echo "make install   create .venv and install the project with its test tools"
	@echo "make test      lint, type-check and run every test (starts its own Kafka)"
	@echo "make demo      run the connector end to end on local Kafka + local mParticle"
	@echo "make bench     benchmarks (QUICK=1 for a smoke run)"
	@echo "make bench-capacity  the figures docs/capacity.md sizes from (state, recovery, edges)"
	@echo "make chaos     the connector under faults (QUICK=1, PROFILE=rolling, ROUNDS=N, SEED=N)"
	@echo "make image     build the container image (IMAGE=$(IMAGE), BASE_IMAGE=...)"
	@echo "make image-test  the image as containers: the demo's loop, docker stop, a new worker"
	@echo "make mapping-doc  regenerate docs/mapping.md from the registry, vocabulary and cases"

install: $(STAMP)

# Re-installs only when the dependency pins change; `pip install -e` keeps code live.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	@touch $@

kafka-fetch: install
	$(BIN)/python -m testkit.localkafka fetch

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The quick chaos round first, so that pytest's summary is the last line.
test: lint typecheck kafka-fetch
	$(BIN)/python -m chaos --quick
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

unit: install
	$(BIN)/python -m pytest -ra -m "not integration" $(PYTEST_ARGS)

integration: kafka-fetch
	$(BIN)/python -m pytest -ra -m integration $(PYTEST_ARGS)

# docs/mapping.md from the code (testkit/mapping_doc.py); tests/test_mapping_doc.py fails when stale.
mapping-doc: install
	$(BIN)/python -m testkit.mapping_doc

demo: kafka-fetch
	$(BIN)/python scripts/demo.py

bench: kafka-fetch
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

# State bytes per wallet, recovery with and without a standby, edge rates (docs/capacity.md).
bench-capacity: kafka-fetch
	$(BIN)/python -m bench.capacity $(CAPACITY_ARGS)

# Faults on a seeded schedule; the last line is the verdict (`chaos: ... lost 0 ...`).
chaos: kafka-fetch
	$(BIN)/python -m chaos $(if $(QUICK),--quick,) $(if $(PROFILE),--profile $(PROFILE),) $(if $(ROUNDS),--rounds $(ROUNDS),) $(if $(SEED),--seed $(SEED),)

# The container image; its labels carry the version, the commit and the build time.
IMAGE ?= air-mparticle:dev
BASE_IMAGE ?= python:3.11-slim
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image:
	docker build --network host -t $(IMAGE) \
	  --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	  --build-arg VERSION=$(VERSION) \
	  --build-arg REVISION=$(shell git rev-parse HEAD 2>/dev/null || echo unknown) \
	  --build-arg CREATED=$(shell date -u +%Y-%m-%dT%H:%M:%SZ) \
	  --build-arg SOURCE=$(shell git remote get-url origin 2>/dev/null) \
	  .

# Worker, local mParticle and local AIR as containers (host network) on the project's Kafka.
image-test: image kafka-fetch
	$(BIN)/python scripts/image_test.py --image $(IMAGE)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
