#!/bin/sh
# Build an instrumented copy of psqlpy for coverage-guided fuzzing of the C code:
# build/fuzz-asan/psqlpy/ = the package's Python files + protocol.so compiled by
# clang with -fsanitize=fuzzer-no-link,address (libFuzzer edge counters + ASan).
# Cython directives are the fast build's (no bounds checks): ASan is the check.
# Run with: LD_PRELOAD=$(python -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so
set -e
PY=${PY:-.venv/bin/python}
OUT=build/fuzz-asan
CC=${CC:-clang}
rm -rf "$OUT"
mkdir -p "$OUT/psqlpy"
cp -r psqlpy/*.py psqlpy/*.pyi psqlpy/py.typed "$OUT/psqlpy/"
for d in psqlpy/*/; do          # subpackages (types, _connect, _internal, ...)
    case "$d" in *__pycache__*) continue ;; esac
    cp -r "$d" "$OUT/psqlpy/"
done
"$(dirname "$PY")/cython" -3 -I protocol \
    -X boundscheck=False -X wraparound=False -X cdivision=True \
    protocol/protocol.pyx -o "$OUT/protocol.c"
INC=$($PY -c "import sysconfig; print(sysconfig.get_paths()['include'])")
SUF=$($PY -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
$CC -shared -fPIC -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer-no-link,address \
    -I"$INC" -Iprotocol "$OUT/protocol.c" -o "$OUT/psqlpy/protocol$SUF"
echo "built $OUT/psqlpy/protocol$SUF"
