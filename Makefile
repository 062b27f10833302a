# The two commands of a fresh machine: `make run` (the tutorial, headless, against the embedded
# development server) and `make test` (every test). Both install what they need first.
# Then `make lab`: JupyterLab on the notebooks, for the chat panel (LAB_ARGS adds options, e.g.
# LAB_ARGS="--no-browser --port 8889" on a machine without a browser).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Apache Airflow 3 lives in a virtual environment of its own: its pins would fight the project's.
# Kept between runs (its stamp says which Airflow it holds); the DAG test uses it.
AIRFLOW_VENV ?= .airflow-venv
AIRFLOW_PACKAGES := "apache-airflow>=3,<4" apache-airflow-providers-standard \
	apache-airflow-providers-papermill

.PHONY: run test lab install install-test install-lab browser jq lint airflow

run: install
	$(VENV)/bin/shopper-chat run

# Without the developer's own Connect settings: the notebooks' kernels would inherit them.
test: install-test browser jq lint airflow
	env -u CONNECT_BASE_URL -u CONNECT_CLIENT_ID -u CONNECT_CLIENT_SECRET -u CONNECT_USER_TOKEN \
	  $(VENV)/bin/pytest

# The panel notebook opens first; the file browser shows every notebook (its root is notebooks/).
lab: install-lab
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(LAB_ARGS) notebooks/07_chat_panel.ipynb

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-lab: $(VENV)/.installed-lab

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-lab: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[lab]'
	touch $(VENV)/.installed $@

# `airflow dags test` on examples/airflow_dag.py (tests/examples/test_airflow_dag.py) runs with it.
airflow: $(AIRFLOW_VENV)/.installed-airflow3

$(AIRFLOW_VENV)/.installed-airflow3:
	python3 -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet $(AIRFLOW_PACKAGES)
	touch $@

# The browser test drives Debian's Chromium; install it when it is missing and apt is at hand.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else echo "chromium is missing: install it (Debian: apt-get install chromium) for the browser test"; fi; }

# The curl walkthrough (examples/curl_walkthrough.sh, run by the tests) reads its JSON with jq.
jq:
	@command -v jq >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q jq >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q jq >/dev/null; }; \
	  else echo "jq is missing: install it (Debian: apt-get install jq) for the curl walkthrough's test"; fi; }

lint: install-test
	$(VENV)/bin/ruff check lib tests benchmarks examples
	$(VENV)/bin/mypy
