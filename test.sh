#!/usr/bin/env bash
# test.sh installs what the tests need (idempotently) and runs every test.
# It is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")"

export PATH="$(go env GOPATH)/bin:$PATH"

# The real age CLI, for interop tests.
if ! age --version 2>/dev/null | grep -qx 'v1.3.1'; then
	echo "test.sh: installing age v1.3.1" >&2
	go install filippo.io/age/cmd/...@v1.3.1
fi

go vet ./...
go test -count=1 ./...
