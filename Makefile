# Two commands on a fresh machine: `make run` (the main job on the embedded stack) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
# Debian packages the embedded stack needs: libgomp1 for the FalkorDB module (OpenMP); fonts-nanum for the synthetic
# Korean worksheet pages (training/pages/); tesseract-ocr with its Korean data for OCR; poppler-utils to rasterise PDFs.
DEB_PACKAGES := libgomp1 fonts-nanum tesseract-ocr tesseract-ocr-kor poppler-utils
# For the tests only (the production image leaves them out): chromium and its driver for the review page's browser
# test (tests/integration/test_review_browser.py); prometheus for promtool, which checks and unit-tests the alert rules
# (tests/unit/test_monitoring_files.py). Its daemon is not wanted: installed without recommends; in a container
# policy-rc.d keeps it from starting, and on a systemd host `make deb` disables it (it would listen on :9090).
TEST_DEB_PACKAGES := chromium chromium-driver prometheus
# The environment is rebuilt only when what it is made from changes.
ENV_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP    := $(VENV)/.installed-$(ENV_HASH)

.PHONY: help run test test-fast install deb lint format lock clean down airflow-ui

help:
	@echo "make run    - install, start the embedded stack, seed the curricula, label the sample set through Airflow"
	@echo "make test   - install and run the whole test suite"
	@echo "make test-fast - the edit loop: unit, data and model tests; no services, OCR or YOLO"
	@echo "make airflow-ui [PORT=8080] - the Airflow UI over the embedded stack, on 127.0.0.1"
	@echo "make down   - stop the embedded services (data stays in var/)"
	@echo "make clean  - stop the services and remove var/"
	@echo "make lint   - ruff"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(MAKE) --no-print-directory deb
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.8
	@echo "installing requirements.txt into $(VENV) (downloads are cached by uv; unchanged pins are not re-installed)"
	@# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set, every command would otherwise compile what it imports.
	@time $(UV) pip install -q --python $(BIN)/python --compile-bytecode -r requirements.txt
	@$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

deb:
	@missing=""; for p in $(DEB_PACKAGES) $(TEST_DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq -o DPkg::Lock::Timeout=300 && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 $$missing >/dev/null; \
	fi; \
	if [ -d /run/systemd/system ] && systemctl is-enabled -q prometheus 2>/dev/null; then \
	  echo "disabling the prometheus daemon Debian starts (only promtool is wanted; it would listen on :9090)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true; \
	fi

run: install
	$(BIN)/mathlabel services up
	$(BIN)/mathlabel seed
	$(BIN)/mathlabel run

test: install
	$(BIN)/python -m pytest

# The edit loop: no server, OCR engine, YOLO or moto (the integration-marked tests of these folders are left out);
# the data suites run Great Expectations.
test-fast: install
	$(BIN)/python -m pytest tests/unit tests/data tests/model -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve requirements.txt from requirements.in (only when changing dependencies).
lock: install
	$(UV) pip compile requirements.in --python-version 3.11 -o requirements.txt

down:
	@if [ -x $(BIN)/mathlabel ]; then $(BIN)/mathlabel services down; fi

clean: down
	rm -rf var

# The Airflow UI over the embedded stack on http://127.0.0.1:8080, or PORT (foreground; Ctrl-C stops it). It prints
# the login; `mathlabel ui --help` has the rest.
airflow-ui: install
	$(BIN)/mathlabel ui $(if $(PORT),--port $(PORT))
