#!/usr/bin/env bash
# deps.sh [run|test|bench] - installs the Debian packages hone needs, and
# only the missing ones.
#
# The package lists are scripts/deps.d/*.txt, one per module: packages
# separated by spaces or lines, '#' comments. What comes before a [test] or
# [bench] line is what building hone and running its demo needs (`make run`);
# [test] adds what the tests need (`make test`), [bench] what the benchmark
# programs need (`make bench`). `test` and `bench` include `run`. Prints what
# it installs; fails with one clear line when it cannot. Set
# HONE_DEPS_DRY_RUN=1 to only list what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
level=${1:-run}
case $level in
  run | test | bench) ;;
  *)
    echo "deps: '$level': expected run, test or bench" >&2
    exit 2
    ;;
esac

want=()
for list in "$here"/deps.d/*.txt; do
  section=run
  while read -r line; do
    line=${line%%#*}
    case $line in
      \[test\]*) section=test; continue ;;
      \[bench\]*) section=bench; continue ;;
    esac
    [[ $section == run || $section == "$level" ]] || continue
    for pkg in $line; do want+=("$pkg"); done
  done <"$list"
done

missing=()
for pkg in $(printf '%s\n' "${want[@]}" | sort -u); do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "deps: installing ${missing[*]}"
if [[ ${HONE_DEPS_DRY_RUN:-0} == 1 ]]; then
  exit 0
fi

sudo=()
if [[ $(id -u) != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "deps: not root and no sudo; install these packages by hand: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -qq >/tmp/hone-deps.$$.log 2>&1; then
  echo "deps: 'apt-get update' failed; see /tmp/hone-deps.$$.log" >&2
  exit 1
fi
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/hone-deps.$$.log 2>&1; then
  echo "deps: 'apt-get install ${missing[*]}' failed; see /tmp/hone-deps.$$.log" >&2
  exit 1
fi
rm -f /tmp/hone-deps.$$.log
echo "deps: installed ${#missing[@]} package(s)"
