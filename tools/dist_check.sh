#!/usr/bin/env bash
# Install each artifact of dist/ into a clean venv and run tools/smoke_test.py
# from outside the source tree against one throwaway cluster:
#   the sdist (built from source) with BUILD_PYTHON's version, and each wheel
#   with the CPython its tag names (skipped, loudly, when that one is missing).
#   tools/dist_check.sh BUILD_PYTHON
set -euo pipefail
cd "$(dirname "$0")/.."
BPY="$1"
top=$(pwd)
work="$top/build/dist-check"
rm -rf "$work"; mkdir -p "$work"

jobs=()
sdist=$(ls dist/psqlpy-*.tar.gz)
jobs+=("$("$BPY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")') $sdist")
for whl in dist/*.whl; do
    tag=$(basename "$whl" | sed -E 's/.*-cp([0-9])([0-9]+)-cp.*/\1.\2/')
    jobs+=("$tag $whl")
done

cat > "$work/run_all.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
status=0
for job in $(printf '"%s" ' "${jobs[@]}"); do
    v=\${job%% *}; artifact=\${job#* }
    py=\$("$top/tools/find_python.sh" "\$v") || { echo "dist-check: Python \$v not found, \$artifact skipped"; continue; }
    venv="$work/venv-\$(basename "\$artifact")"
    "\$py" -m venv "\$venv"
    "\$venv/bin/python" -m pip install -q "$top/\$artifact"
    echo "dist-check: \$artifact on Python \$v"
    (cd "$work" && "\$venv/bin/python" "$top/tools/smoke_test.py") || status=1
done
exit \$status
SCRIPT
chmod +x "$work/run_all.sh"
"$BPY" tools/with_cluster.py "$work/run_all.sh"
