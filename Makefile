# The two commands of the README: `make run` (main job) and `make test` (everything CI runs).
.PHONY: run test install install-dev lint typecheck pytest bench clean

run: install
	.venv/bin/awsomechat up

test: install-dev lint typecheck pytest

install:
	bash scripts/install.sh

install-dev:
	bash scripts/install.sh --dev

lint:
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench

typecheck:
	.venv/bin/mypy

pytest:
	.venv/bin/pytest -q

bench: install-dev
	.venv/bin/python bench/ingest.py
	.venv/bin/python bench/retrieval.py

clean:
	rm -rf .venv .install-stamp* .pytest_cache .mypy_cache .ruff_cache test-artifacts
