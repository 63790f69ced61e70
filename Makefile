# One command to run, one to test; both create the virtualenv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)

.PHONY: run test lint bench lock clean policy-venv

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--constraint requirements.lock --editable '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# The policy pack's own virtualenv (PulumiPolicy.yaml): pulumi-policy needs protobuf 5, .venv has 6.
POLICY_VENV := infra/policy/venv
POLICY_STAMP := $(POLICY_VENV)/.installed-$(shell cksum < infra/policy/requirements.txt | cut -d' ' -f1)

$(POLICY_STAMP): infra/policy/requirements.txt
	test -x $(POLICY_VENV)/bin/python || $(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		--requirement infra/policy/requirements.txt
	rm -f $(POLICY_VENV)/.installed-*
	touch $@

policy-venv: $(POLICY_STAMP)  ## the policy pack's virtualenv, for `pulumi preview --policy-pack infra/policy`

run: $(STAMP)  ## the API on http://127.0.0.1:8080 (docs at /docs)
	$(BIN)/emg serve

test: $(STAMP) lint policy-venv  ## lint, import contracts, then the whole test suite
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: $(STAMP)  ## performance figures (not part of the test suite)
	$(BIN)/python tests/benchmarks/bench_analysis.py
	$(BIN)/python tests/benchmarks/bench_upload.py
	$(BIN)/python tests/benchmarks/bench_load.py
	$(BIN)/python tests/benchmarks/bench_plan.py

lock:  ## re-pin every dependency after changing pyproject.toml
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --disable-pip-version-check '.[dev]'
	$(VENV)-lock/bin/python -m pip freeze --exclude emg-analyzer > requirements.lock
	rm -rf $(VENV)-lock

clean:
	rm -rf $(VENV) $(POLICY_VENV) .pytest_cache .ruff_cache .hypothesis
