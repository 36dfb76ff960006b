#!/usr/bin/env bash
# Print the path of a working CPython X.Y (with venv and ensurepip), looking on
# PATH first, then in pyenv's versions; fail when there is none.
# (pyenv's shims are on PATH but fail for versions that are not selected, hence
# the check that the interpreter really runs.)
#   tools/find_python.sh 3.12
set -u
v="$1"
root="$(pyenv root 2>/dev/null || echo "${HOME}/.pyenv")"
for py in "$(command -v "python$v" 2>/dev/null)" "$root"/versions/"$v".*/bin/"python$v" \
          /usr/local/bin/"python$v" /usr/bin/"python$v"; do
    if [[ -n "$py" && -x "$py" ]] && "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "$py"
        exit 0
    fi
done
exit 1
