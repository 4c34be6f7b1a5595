# PainPath: two commands.  `make run` starts the app on the sample data;
# `make test` installs the test dependencies and runs the whole suite.
# `make serve` runs several app processes behind nginx (README "Several app processes").
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
# make serve: nginx on SERVE_PORT, PROCESSES app processes on SERVE_PORT+1, +2, ...
PROCESSES  ?= 2
SERVE_PORT ?= 8600

.PHONY: run serve test lint bench bench-spark clean chromium nginx java fuzz screenshots

# `run` needs only the app's own dependencies; `test` adds the test tools on top.
$(VENV)/.app-installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.app-installed requirements-dev.txt requirements-spark.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-spark.txt
	touch $@

run: $(VENV)/.app-installed
	$(PY) -m streamlit run dashboard.py --server.port $(PORT)

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here);
# the printed-report test draws the PDF's pages with pdftoppm (Debian's poppler-utils).
chromium:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "note: install$$missing (sudo apt-get install -y$$missing) to run the browser tests"; \
	  fi; \
	fi

# Several app processes behind Debian's nginx (its own configuration from deploy/; the
# system's nginx service and /etc/nginx are left alone).
nginx:
	@[ -x "$${PAINPATH_NGINX:-/usr/sbin/nginx}" ] || { \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	  else \
	    echo "note: install nginx (sudo apt-get install -y nginx) for make serve and the proxy tests"; \
	  fi; }

serve: $(VENV)/.app-installed nginx
	$(PY) deploy/serve.py --processes $(PROCESSES) --port $(SERVE_PORT) --first-port $$(( $(SERVE_PORT) + 1 ))


# The Spark engine's tests need Java: Debian's OpenJDK 17, or 21 where the release has no 17.
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq; \
	    jre=openjdk-17-jre-headless; \
	    apt-cache show $$jre >/dev/null 2>&1 || jre=openjdk-21-jre-headless; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$jre >/dev/null; \
	  else \
	    echo "note: install Java (sudo apt-get install -y openjdk-17-jre-headless) to run the Spark tests"; \
	  fi; }

test: $(VENV)/.installed chromium nginx java
	$(PY) -m ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

# The pictures of docs/screenshots/: a browser drives the app on the sample data (and a
# German clinic upload for the Data page's value mapping).  Not part of `make test`, which
# must not rewrite tracked files.  SHOTS=name ... takes only the named ones.
SHOTS ?=
screenshots: $(VENV)/.installed chromium
	$(PY) -m tests.e2e.screenshots $(SHOTS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_analytics.py

# Not in CI: 10M (and with SPARK_BENCH_SIZES="10000000 100000000" also 100M) events on local[2].
bench-spark: $(VENV)/.installed java
	$(PY) benchmarks/bench_spark.py

# Nightly-style fuzzing of ingest: the property tests of tests/test_ingest_fuzz.py with
# FUZZ_EXAMPLES generated cases in total (CI runs ~10,000); FUZZ_SEED picks another seed.
FUZZ_EXAMPLES ?= 200000
FUZZ_SEED ?= 20260526
fuzz: $(VENV)/.installed
	PAINPATH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PAINPATH_FUZZ_SEED=$(FUZZ_SEED) \
	  $(PY) -m pytest -q -p no:cacheprovider tests/test_ingest_fuzz.py

clean:
	rm -rf $(VENV) data .run .pytest_cache .ruff_cache .hypothesis
