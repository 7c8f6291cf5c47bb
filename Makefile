# Quick start:  make audiobook   (set up .venv, render the sample book to M4B and MP3)
#               make test        (run the whole test suite)
VENV := .venv
PY := $(VENV)/bin/python
SAMPLE := samples/sample_book.md

.PHONY: audiobook setup test conformance bench clean

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

bench: setup
	$(PY) bench/bench_kokoro.py

clean:
	rm -rf out .pytest_cache
