#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md, part by part (each part fits in ten minutes on an H100):
#
#   bash bench/gpu_figures.sh tests    # tests/test_cuda.py and the runtime tests on CUDA
#   bash bench/gpu_figures.sh decode   # `indexstudio bench decode`, batch 1 and 64 together, eager and compiled step;
#                                      # the runtime's eager work per step (bench_step_overhead.py)
#   bash bench/gpu_figures.sh overlap  # decode at batch 1 with the runtime's overlap off (the baseline of its gain:
#                                      # compare with decode's batch-1 logs), eager and compiled step
#   bash bench/gpu_figures.sh e2e      # bench_e2e.py: RTF, first audio, stage split; official settings, then fast ones
#   bash bench/gpu_figures.sh memory   # bench_e2e.py --memory-only: CUDA peak for 1k vs 100k characters, official
#                                      # settings, then compiled (CUDA graphs recorded per shape must stay bounded)
#   bash bench/gpu_figures.sh beams    # the official 3-beam search: bench decode --beams 3 (16 segments, 48 rows),
#                                      # end to end with the official decoding, and its 1k vs 100k memory
#
# Logs go to $FIGURES (default bench/figures-<part>), one file per command; PYTHON picks the interpreter.
set -uo pipefail
cd "$(dirname "$0")/.."
part=${1:?"which part: tests, decode, overlap, e2e, memory or beams"}
out=${FIGURES:-bench/figures-$part}
py=${PYTHON:-python}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/gpu.txt" 2>&1

run() {     # run NAME COMMAND...: the command's output in $out/NAME.log, its exit status on the last line
    local name=$1; shift
    echo "== $name: $*"
    "$@" > "$out/$name.log" 2>&1
    local rc=$?
    echo "exit $rc" >> "$out/$name.log"
    tail -n 4 "$out/$name.log"
}

decode=("$py" -m indexstudio bench decode --device cuda --dtype float16 --tokens 256)
e2e=("$py" bench/bench_e2e.py --device cuda --dtype float16 --option num_beams=1 --segments 4 --tokens 300)
case $part in
    tests)
        run tests "$py" -m pytest -q tests/test_cuda.py tests/runtime -k "cuda" ;;
    decode)
        run decode-b1 "${decode[@]}" --segments 1
        run decode-b1-compiled "${decode[@]}" --segments 1 --compile
        run decode-64 "${decode[@]}" --segments 64 --max-batch 64 --reference-segments 2
        run decode-64-compiled "${decode[@]}" --segments 64 --max-batch 64 --reference-segments 2 --compile
        run step-overhead "$py" bench/bench_step_overhead.py --device cuda --layers 24 ;;
    overlap)
        run decode-b1-no-overlap "${decode[@]}" --segments 1 --no-overlap
        run decode-b1-compiled-no-overlap "${decode[@]}" --segments 1 --compile --no-overlap ;;
    e2e)
        run e2e-official "${e2e[@]}" --skip-memory --json "$out/e2e-official.json"
        run e2e-fast "${e2e[@]}" --skip-memory --s2mel-dtype float16 --compile --compile-decode \
            --option quick_streaming_tokens=40 --json "$out/e2e-fast.json" ;;
    memory)
        run memory "$py" bench/bench_e2e.py --memory-only --device cuda --memory-option num_beams=1 \
            --json "$out/memory.json"
        run memory-compiled "$py" bench/bench_e2e.py --memory-only --device cuda --memory-option num_beams=1 \
            --s2mel-dtype float16 --compile --compile-decode --json "$out/memory-compiled.json" ;;
    beams)
        run decode-beams "${decode[@]}" --segments 16 --beams 3 --max-batch 48 --reference-segments 2
        run e2e-beams "${e2e[@]/num_beams=1/num_beams=3}" --skip-memory --option gpt_batch_size=48 \
            --json "$out/e2e-beams.json"
        run memory-beams "$py" bench/bench_e2e.py --memory-only --device cuda --json "$out/memory-beams.json" ;;
    *)
        echo "unknown part $part: tests, decode, overlap, e2e, memory or beams" >&2; exit 2 ;;
esac
