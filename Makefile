# Everything runs from a virtual environment this Makefile creates (.venv), pinned by
# requirements.lock, so a fresh machine needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.spark-installed

export CDP_RAW_DIR ?= $(CURDIR)/seeds
export CDP_DUCKDB_PATH ?= $(CURDIR)/warehouse/cdp.duckdb
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export CDP_SPARK_DIR ?= $(CURDIR)/warehouse/spark

# sqlfluff through dbt: dbt's compile caps sqlparse at 10,000 tokens unless run from its own
# CLI, and the landing dispositions model (every base model inlined) is larger.
SQLFLUFF = CDP_DUCKDB_PATH=$(CURDIR)/$(VENV)/sqlfluff.duckdb $(BIN)/python -c "import sys, sqlparse.engine.grouping as grouping; grouping.MAX_GROUPING_TOKENS = None; from sqlfluff.cli.commands import cli; cli(sys.argv[1:])"

.PHONY: setup demo test test-fast lint format docs dagster bench seeds clean spark-setup spark-demo test-spark postgres-setup

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps lifetimes==0.11.3
	touch $(STAMP)

# The sample's history ends on 2025-06-30; the demo computes traits as of the next day.
demo dagster: export CDP_AS_OF ?= 2025-07-01

# The whole pipeline on the sample data in seeds/, into warehouse/cdp.duckdb.
demo: setup
	$(BIN)/cdp run

# Unit, dbt and end-to-end tests on DuckDB, and beside them the Spark suite (skipped, with the
# reason, where Java 17 is missing); the two share no file, and the Spark suite's output
# follows the DuckDB suite's. The Dagster tests also run on a throwaway PostgreSQL; here a
# missing server fails them instead of skipping them.
SPARK_TEST_LOG := .pytest_cache/spark-suite.log
test: export CDP_REQUIRE_POSTGRES = 1
test: spark-setup postgres-setup
	@mkdir -p .pytest_cache
	@$(BIN)/pytest -p no:cacheprovider -m spark tests/spark > $(SPARK_TEST_LOG) 2>&1 & spark=$$!; \
	$(BIN)/pytest; duckdb=$$?; \
	wait $$spark; spark_status=$$?; \
	echo; echo "---- the Spark suite (tests/spark) ----"; cat $(SPARK_TEST_LOG); \
	echo "DuckDB suite exit $$duckdb, Spark suite exit $$spark_status"; \
	[ $$duckdb -eq 0 ] && [ $$spark_status -eq 0 ]

# The PostgreSQL server binaries (initdb, postgres) the Dagster tests start a throwaway cluster
# with (tests/postgres_cluster.py). Nothing to do where they are found; otherwise Debian's
# postgresql package, as root, without creating or starting the system's own cluster.
postgres-setup: setup
	@if $(BIN)/python -c "import sys; from tests.postgres_cluster import postgres_bin_dir; sys.exit(postgres_bin_dir() is None)"; then \
		echo "PostgreSQL server binaries found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		mkdir -p /etc/postgresql-common; \
		[ -e /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y --no-install-recommends postgresql \
			|| { apt-get update && apt-get install -y --no-install-recommends postgresql; }; \
	else \
		echo "PostgreSQL server binaries (initdb, postgres) not found: install the postgresql package, or set CDP_POSTGRES_BIN_DIR" >&2; \
		exit 1; \
	fi

# Everything except the tests that build whole warehouses.
test-fast: setup
	$(BIN)/pytest -m "not slow"

# ruff, the import architecture contracts in pyproject.toml (import-linter), sqlfluff.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(SQLFLUFF) lint dbt_project

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(SQLFLUFF) fix dbt_project

docs: setup
	$(BIN)/cdp dbt docs generate

dagster: setup
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -m orchestration.definitions

bench: setup
	$(BIN)/python benchmarks/identity_scale.py

# Apache Spark as the warehouse (dbt-spark in session mode on a local PySpark; needs Java 17).
spark-setup: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,spark]'
	touch $(SPARK_STAMP)

# The whole pipeline on Spark on the sample data, into warehouse/spark (CDP_SPARK_DIR).
spark-demo: export CDP_AS_OF ?= 2025-07-01
spark-demo: spark-setup
	CDP_TARGET=spark $(BIN)/cdp run

# The Spark suite: the whole project built on Spark, and equal to the DuckDB build.
test-spark: spark-setup
	$(BIN)/pytest -m spark tests/spark

# Regenerate the committed sample (about 2,000 people).
seeds: setup
	rm -rf seeds
	$(BIN)/cdp generate --people 2000 --seed 7 --out seeds --truth seeds/_truth

clean:
	rm -rf $(VENV) warehouse dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
