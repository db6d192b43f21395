# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PIP    := $(PY) -m pip install --disable-pip-version-check -c constraints.txt

.PHONY: demo test test-all web benchmarks clean install browser device-prep

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch torchvision
	$(PIP) -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hsi demo

# The browser test drives Debian's chromium through Playwright (its own browser download
# is not reachable here). Install it when missing and possible; otherwise the test skips
# with a message saying so.
browser:
	@test -x /usr/bin/chromium || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& (apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)) >/dev/null) \
		|| echo "make: chromium not installed and cannot be installed; the browser test will be skipped"

test: $(STAMP) browser
	$(PY) -m pytest -m "not slow" -q

test-all: $(STAMP) browser
	$(PY) -m pytest -q

web: $(STAMP)
	$(VENV)/bin/hsi serve

# The scripts that run on their own (hours on 2 CPU cores). bench_ensemble, bench_distill,
# bench_smoothing and bench_denoise_noise_draws reuse run folders: BENCHMARKS.md gives their commands.
SELF_CONTAINED := dense_vs_patch scene_scale classification model_zoo cross_sensor denoising detection \
	batch map_tools train_step

benchmarks: $(STAMP)
	for b in $(SELF_CONTAINED); do $(PY) benchmarks/bench_$$b.py || exit 1; done

# Before a GPU check (benchmarks/device_check.sh): mamba-ssm's source, for building its kernel
# on the GPU machine (PyPI has no wheel; the machine has no network). sha256 checked.
MAMBA_VERSION := 2.3.2.post1
MAMBA_SDIST := mamba_ssm-$(MAMBA_VERSION).tar.gz
MAMBA_SHA256 := 104cc47e9101e5401a675fa2b784f2952b9b037f3b1dd83b5ac544394e95d028
device-prep: $(STAMP)
	mkdir -p .device
	test -f .device/$(MAMBA_SDIST) || $(PY) -m pip download -q --no-deps --no-build-isolation \
		mamba-ssm==$(MAMBA_VERSION) -d .device
	echo "$(MAMBA_SHA256)  .device/$(MAMBA_SDIST)" | sha256sum -c -

clean:
	rm -rf $(VENV) outputs .pytest_cache
