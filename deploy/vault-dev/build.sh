#!/usr/bin/env bash
# build.sh builds the vault-dev binary once per version of its sources and
# prints the binary's absolute path on stdout (and nothing else there).
#
# The binary lives in .cache/vault-dev/<hash>/vault-dev under the repository
# root, where <hash> covers go.mod, go.sum and the .go files of this module, so
# a second call with unchanged sources returns at once. The first build takes
# several minutes: it compiles Vault.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$src/../.." && pwd)"

hash="$(
	cd "$src"
	# Name and content of every input, in a fixed order.
	LC_ALL=C ls go.mod go.sum *.go | LC_ALL=C sort | while read -r f; do
		printf '%s\n' "$f"
		sha256sum <"$f"
	done | sha256sum | cut -c1-16
)"
dir="$root/.cache/vault-dev/$hash"
bin="$dir/vault-dev"

if [[ ! -x "$bin" ]]; then
	mkdir -p "$dir"
	# One build at a time, even when several callers start together.
	exec 9>"$dir/.lock"
	if command -v flock >/dev/null; then
		flock 9
	fi
	if [[ ! -x "$bin" ]]; then
		echo "build.sh: building vault-dev $hash (compiles Vault; several minutes the first time)" >&2
		start=$SECONDS
		(
			cd "$src"
			GOWORK=off go build -buildvcs=false -o "$bin.tmp" .
		) >&2
		mv -f "$bin.tmp" "$bin"
		echo "build.sh: built $bin in $((SECONDS - start))s" >&2
		# Binaries of older sources are of no further use.
		for old in "$root/.cache/vault-dev"/*/; do
			[[ "${old%/}" == "$dir" ]] || rm -rf "${old%/}"
		done
	fi
fi

echo "$bin"
