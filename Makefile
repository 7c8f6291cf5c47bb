# Quick start:  make audiobook   (set up .venv, render the sample book to M4B and MP3)
#               make test        (run the whole test suite)
VENV := .venv
PY := $(VENV)/bin/python
SAMPLE := samples/sample_book.md

.PHONY: audiobook setup test conformance bench bench-indextts clean

audiobook: setup
	@mkdir -p out
	$(PY) -m indexstudio book $(SAMPLE) -o out/sample_book.m4b
	$(PY) -m indexstudio book $(SAMPLE) -o out/sample_book.mp3
	@echo "Audiobooks ready: $(CURDIR)/out/sample_book.m4b and $(CURDIR)/out/sample_book.mp3"

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	@mkdir -p out
	@touch $@

test: setup
	$(PY) -m pytest -q

conformance: setup
	$(PY) -m indexstudio.conformance ../shared/golden/indextts2
	$(PY) -m indexstudio.conformance ../shared/golden/indextts1_5
	$(PY) -m indexstudio.conformance ../shared/golden/indextts2_5

bench: setup
	$(PY) bench/bench_kokoro.py

# full-size IndexTTS-2 shapes with random weights (writes a 6.4 GiB folder to ~/.cache once)
bench-indextts: setup
	$(PY) -m indexstudio bench decode --segments 16 --tokens 32
	$(PY) bench/bench_step_overhead.py
	$(PY) bench/bench_cache_length.py
	$(PY) bench/bench_e2e.py

clean:
	rm -rf out .pytest_cache
