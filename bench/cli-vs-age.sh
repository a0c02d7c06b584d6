#!/usr/bin/env bash
# cli-vs-age.sh: whole-process time and peak RSS of `sluss encrypt` and
# `sluss decrypt` against the real age CLI on the same file, in one run.
#
#   bench/cli-vs-age.sh [SIZE_MIB]   (default 1024)
#
# Needs age v1.3.1 on PATH (./test.sh installs it) and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
export PATH="$(go env GOPATH)/bin:$PATH"
command -v age >/dev/null || { echo "age not found: go install filippo.io/age/cmd/...@v1.3.1" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time not found: apt-get install -y time" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/sluss" ./cmd/sluss
"$work/sluss" keygen -o "$work/key.txt" 2>/dev/null
"$work/sluss" keygen -y "$work/key.txt" >"$work/key.pub"
head -c "$((size_mib << 20))" /dev/urandom >"$work/plain"
cat "$work/plain" >/dev/null # warm the page cache

measure() { # name, output file, then the command
	local name=$1 out=$2
	shift 2
	local best_s="" best_cpu="" rss=""
	for _ in 1 2 3 4 5; do
		rm -f "$out"
		/usr/bin/time -f '%e %M %U %S' -o "$work/time" "$@" >/dev/null 2>&1
		read -r s kb u sy <"$work/time"
		cpu=$(awk -v u="$u" -v s="$sy" 'BEGIN{print u+s}')
		if [ -z "$best_s" ] || awk "BEGIN{exit !($s < $best_s)}"; then best_s=$s; fi
		if [ -z "$best_cpu" ] || awk "BEGIN{exit !($cpu < $best_cpu)}"; then best_cpu=$cpu; fi
		if [ -z "$rss" ] || [ "$kb" -gt "$rss" ]; then rss=$kb; fi
	done
	awk -v n="$name" -v s="$best_s" -v c="$best_cpu" -v kb="$rss" -v mib="$size_mib" \
		'BEGIN{printf "%-16s %8.2f s %9.1f MB/s %8.2f s CPU %8.1f MiB peak RSS\n", n, s, mib*1.048576/s, c, kb/1024}'
}

echo "file: ${size_mib} MiB, best wall time and best CPU (user+sys) of 5 runs, highest peak RSS, $(nproc) cores, $(go version | cut -d' ' -f3), $(age --version)"
measure "age -e" "$work/a.age" age -R "$work/key.pub" -o "$work/a.age" "$work/plain"
measure "sluss encrypt" "$work/s.age" "$work/sluss" encrypt -R "$work/key.pub" -o "$work/s.age" "$work/plain"
measure "age -d" "$work/a.out" age -d -i "$work/key.txt" -o "$work/a.out" "$work/s.age"
measure "sluss decrypt" "$work/s.out" "$work/sluss" decrypt -i "$work/key.txt" -o "$work/s.out" "$work/a.age"
cmp "$work/plain" "$work/a.out" && cmp "$work/plain" "$work/s.out" && echo "outputs verified"
