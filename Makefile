# Two set-up commands: `make demo` and `make test`. Both install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JAX_PLATFORMS ?= cpu
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.jax_cache

.PHONY: install demo test lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/qtgjax-run --config-name realistic out=results/demo

test: $(STAMP)
	bash .ci/install-debian-packages
	$(BIN)/ruff check .
	# room for the memory mappings of many compiled programs in one pytest worker (each
	# XLA:CPU executable holds ~3; tests/conftest.py also frees them after every file):
	# raised where Linux's default 65,530 is lower and we may (root), else left alone
	[ "$$(cat /proc/sys/vm/max_map_count)" -ge 1048576 ] || \
		(echo 1048576 > /proc/sys/vm/max_map_count) 2>/dev/null || true
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=25 tests

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .jax_cache results outputs multirun
