#!/usr/bin/env bash
# test.sh: the one command that sets up what the tests need and runs them all.
# It is idempotent: what is already installed is not installed again. CI runs
# it through .ci/run on a fresh clone.
#
#   ./test.sh            everything: install, lint, all tests
#   ./test.sh -short     skip the slow end-to-end scenarios (not for CI)
set -euo pipefail
cd "$(dirname "$0")"

export PATH="$(go env GOPATH)/bin:$PATH"
log() { printf 'test.sh: %s\n' "$*" >&2; }

# Debian packages the end-to-end tests drive for real: curl and rclone
# through the proxy, chromium for the bench report (and the browser test),
# mitmproxy and squid as the bench's peers, GNU time for the CLI benchmark,
# certutil (libnss3-tools) for Chromium's trust store, node to evaluate the
# PAC file, the AWS CLI v2 (/usr/bin/aws) and s3cmd as S3 clients,
# HAProxy in front of several gateways (internal/haproxytest), PostgreSQL 15
# for the shared state (internal/pgtest runs its own server in a temporary
# directory), systemd-analyze for the unit's check, and the Nextcloud
# desktop client's nextcloudcmd (the nextcloud profile's tests).
apt_packages=(curl time rclone chromium libnss3-tools nodejs mitmproxy squid-openssl awscli s3cmd haproxy postgresql systemd nextcloud-desktop-cmd)
# LibreOffice, headless, and pdftotext (poppler-utils) for the document
# tests: a pseudonymized DOCX, XLSX, PPTX, ODT, ODS or ODP must still open
# and convert to PDF. Installed without their recommended packages (Java,
# extra fonts), which the conversions do not need.
lean_packages=(libreoffice-writer libreoffice-calc libreoffice-impress poppler-utils)
sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_=sudo
updated=""
install_missing() { # APT-FLAGS PACKAGE…
	local flags=$1 missing=() p
	shift
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	log "installing Debian packages: ${missing[*]}"
	[ -n "$updated" ] || { $sudo_ apt-get update -qq; updated=1; }
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq $flags "${missing[@]}" >/dev/null
}
install_missing "" "${apt_packages[@]}"
install_missing --no-install-recommends "${lean_packages[@]}"

# The real age CLI, for interop tests.
if ! age --version 2>/dev/null | grep -qx 'v1.3.1'; then
	log "installing age v1.3.1"
	go install filippo.io/age/cmd/...@v1.3.1
fi

# versitygw, a real S3 server that checks SigV4, for the S3 tests
# (internal/s3test). The build takes a few minutes. Its --version says
# "git" when built by go install, so the version is read from the binary's
# build information.
versitygw_version() { go version -m "$(go env GOPATH)/bin/versitygw" 2>/dev/null | awk '$1 == "mod" { print $3 }'; }
if [ "$(versitygw_version)" != v1.8.0 ]; then
	log "installing versitygw v1.8.0"
	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi

# tusd, a real tus server, and tus-js-client with the proxy agents Node
# needs, in .cache/npm, for the tus tests (cmd/sluss/tus_test.go), which
# fail instead of skipping when SLUSS_REQUIRE_TUS is set.
tusd_version() { go version -m "$(go env GOPATH)/bin/tusd" 2>/dev/null | awk '$1 == "mod" { print $3 }'; }
if [ "$(tusd_version)" != v2.9.1 ]; then
	log "installing tusd v2.9.1"
	go install github.com/tus/tusd/v2/cmd/tusd@v2.9.1
fi
if ! grep -qs '"version": "4.3.1"' .cache/npm/node_modules/tus-js-client/package.json; then
	log "installing tus-js-client 4.3.1 into .cache/npm"
	# npm comes with some nodejs builds; Debian's is a package of its own.
	command -v npm >/dev/null || install_missing "" npm
	npm install --prefix .cache/npm --no-audit --no-fund tus-js-client@4.3.1 http-proxy-agent@7.0.2 https-proxy-agent@7.0.6 >/dev/null
fi
export SLUSS_REQUIRE_TUS=1

# helm, to render the chart in deploy/helm (deploy/check). The build takes
# about 4 minutes; like versitygw's, its version is in its build
# information.
helm_version() { go version -m "$(go env GOPATH)/bin/helm" 2>/dev/null | awk '$1 == "mod" { print $3 }'; }
if [ "$(helm_version)" != v3.22.0 ]; then
	log "installing helm v3.22.0"
	go install helm.sh/helm/v3/cmd/helm@v3.22.0
fi

# staticcheck, pinned so a new release cannot break CI.
if ! staticcheck -version 2>/dev/null | grep -q '(0.8.2)'; then
	log "installing staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

# A real in-memory Vault (deploy/vault-dev, built from Vault's own Go
# packages) for the keys and gateway tests. The first build takes 7-20
# minutes; build.sh caches the binary in .cache/ by a hash of its sources.
log "building deploy/vault-dev (cached when unchanged)"
SLUSS_VAULT_DEV="$(deploy/vault-dev/build.sh)"
export SLUSS_VAULT_DEV

log "checking formatting, vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '^deploy/vault-dev/'))
if [ -n "$unformatted" ]; then
	log "gofmt needed on: $unformatted"
	exit 1
fi
go vet ./...
staticcheck ./...
# deploy/check is a module of its own (the Kubernetes API types).
(cd deploy/check && go vet ./... && staticcheck ./...)

log "running tests"
# The Nextcloud tests fail, instead of skipping, without nextcloudcmd.
export SLUSS_REQUIRE_NEXTCLOUD=1
# The end-to-end package (cmd/sluss) runs real clients against real servers
# and takes 8-12 minutes on two cores: past go test's default 10-minute limit.
go test -count=1 -timeout 45m "$@" ./...
# The deploy files: the Helm chart rendered and decoded, the systemd unit.
(cd deploy/check && go test -count=1 "$@" ./...)

# The packages that share state across goroutines, under the race detector
# (the slow end-to-end scenarios are already covered above).
log "race detector on keys, pseudonym, gateway and store"
go test -race -short -count=1 ./keys/... ./pseudonym/... ./gateway/... ./store/...
