# Set-up and everyday targets. Every target creates .venv and installs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium and its chromedriver, for the report's browser test
# (tests/report/test_report_browser.py); nothing to do when both are there. Needs root (or sudo).
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
		echo "browser: $$(chromium --version 2>/dev/null | head -n 1), chromedriver already installed"; \
	else \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

demo: $(STAMP)
	mkdir -p out/demo
	$(BIN)/enrich run --sandbox sample_data/ -o out/demo/
	$(BIN)/enrich run --sandbox sample_data/stix21_bundle.json -o out/demo/stix21_bundle.sightings.json --org-name "Demo Org"
	$(BIN)/enrich run --sandbox sample_data/ -o out/demo/all.xlsx --report out/demo/report.html
	@echo "Demo outputs are in out/demo/:" && ls -1 out/demo/

test: $(STAMP) lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/quota.py
	$(BIN)/python bench/stix.py
	$(BIN)/python bench/report.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .ruff_cache
