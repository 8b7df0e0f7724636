# `make test` is the test command of the README and of .ci/run.
PY ?= .venv/bin/python

.PHONY: install test test-slow lint format bench

.venv/bin/python:
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip

# torch==2.13.0 first: this machine holds its CPU build; a bare `torch` would fetch a CUDA build.
install: .venv/bin/python
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,corpus,train]"
	# KenLM (optional: faster n-gram scoring and binary LMs) builds from source in about a
	# minute; its tests skip when it is missing (the pure-Python ARPA scorer is tested anyway).
	$(PY) -c "import kenlm" 2>/dev/null || $(PY) -m pip install -q kenlm==0.3.0 \
		|| echo "warning: kenlm did not install; LM tests will be skipped"

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: install lint
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

bench: install
	$(PY) benchmarks/bench_model.py
