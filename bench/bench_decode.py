"""GPT decode speed, the official way vs the batched runtime: `indexstudio bench decode` as a script.

Usage: python bench/bench_decode.py [--segments 16] [--tokens 64] [--weights fp32|bf16|int8] ...
(see indexstudio/bench/decode.py).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexstudio.bench.decode import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="bench_decode.py"))
