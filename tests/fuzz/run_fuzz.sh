#!/usr/bin/env bash
# Runs one libFuzzer target of tests/fuzz under the bounds of docs/RELIABILITY.md ("Fuzzing"):
#   run_fuzz.sh regressions BINARY REGRESSIONS_DIR
#       every input of REGRESSIONS_DIR once (the findings fixed so far); no files: nothing to run
#   run_fuzz.sh fuzz BINARY SEEDS_DIR REGRESSIONS_DIR WORK_DIR SECONDS
#       fuzzes for SECONDS from the seeds, the regression inputs and WORK_DIR/corpus (kept between
#       runs, so that coverage builds up); a finding is left in WORK_DIR/findings/ and fails the run.
#       FUZZ_SEED=N fixes libFuzzer's random seed (default: drawn, and printed).
# A crash, a sanitizer report (ASan, UBSan), a leak, an exception other than convnet::Error, an
# input that runs past TIMEOUT_SECONDS, or more than LIMIT_MB of memory (one allocation or the
# process) is a finding.
set -euo pipefail

LIMIT_MB=2048
TIMEOUT_SECONDS=10
limits=(-rss_limit_mb=$LIMIT_MB -malloc_limit_mb=$LIMIT_MB -timeout=$TIMEOUT_SECONDS -detect_leaks=1)
# One thread each (the image-folder reader decodes with OpenMP): CTest runs two targets at once.
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

mode=${1:?usage: run_fuzz.sh regressions|fuzz BINARY ...}
binary=${2:?usage: run_fuzz.sh regressions|fuzz BINARY ...}
name=$(basename "$binary")
name=${name#convnet_fuzz_}

if [[ $mode == regressions ]]; then
    folder=${3:?usage: run_fuzz.sh regressions BINARY REGRESSIONS_DIR}
    mapfile -t inputs < <(find "$folder" -type f 2>/dev/null | sort)
    if [[ ${#inputs[@]} == 0 ]]; then
        echo "$name: no regression inputs in $folder"
        exit 0
    fi
    # Given files, libFuzzer runs each once and stops at the first failure.
    "$binary" "${limits[@]}" "${inputs[@]}"
    echo "$name: ${#inputs[@]} regression inputs pass"
    exit 0
fi

[[ $mode == fuzz ]] || { echo "run_fuzz.sh: unknown mode '$mode' (regressions or fuzz)" >&2; exit 2; }
seeds=${3:?} regressions=${4:?} work=${5:?} seconds=${6:?}
mkdir -p "$work/corpus" "$work/findings"
rm -f "$work/findings/"*
corpora=("$work/corpus" "$seeds")
[[ -d $regressions ]] && corpora+=("$regressions")
status=0
# libFuzzer draws its random seed from the clock unless told; FUZZ_SEED=N repeats a run's
# mutations (with the same corpus), and every summary line names the seed it ran with.
seed_option=()
[[ -n ${FUZZ_SEED:-} ]] && seed_option=(-seed="$FUZZ_SEED")
# The working corpus comes first: libFuzzer adds the inputs it finds to the first folder only.
"$binary" "${limits[@]}" "${seed_option[@]}" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/findings/" \
    "${corpora[@]}" >"$work/log" 2>&1 || status=$?
# libFuzzer's final stats: stat::number_of_executed_units, ...; one summary line for the logs.
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
seed=$(sed -n 's/^INFO: Seed: *//p' "$work/log" | head -1)
corpus_size=$(find "$work/corpus" -type f | wc -l)
if [[ $status != 0 ]]; then
    tail -n 60 "$work/log"
    echo "$name: FINDING after ${runs:-?} runs with seed ${seed:-?} (exit status $status): $(ls "$work/findings" | tr '\n' ' ')"
    echo "  reproduce: $binary ${limits[*]} $work/findings/<file>; once the reader is fixed, add the input to $regressions/"
    exit 1
fi
echo "$name: ${runs:-?} runs in $seconds s with seed ${seed:-?} (FUZZ_SEED to repeat), no finding; $corpus_size inputs in $work/corpus (full log: $work/log)"
