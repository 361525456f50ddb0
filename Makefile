# mocar: `make demo` runs the whole pipeline on the built-in demo museum; `make test` runs the tests.
# Both create/update the virtual environment in .venv first (Python 3.11).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
comma  := ,
EXTRAS ?= all
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: venv demo test test-fast bench clean-demo

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

demo: venv
	$(BIN)/mocar demo --out runs/demo

test: venv
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow"

clean-demo:
	rm -rf runs/demo
