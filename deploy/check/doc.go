// Package check renders and checks the deploy files: the Helm chart in
// deploy/helm/sluss and the systemd unit in deploy/systemd. It is a module
// of its own so that the Kubernetes API types stay out of sluss's.
//
//	(cd deploy/check && go test ./...)
//
// For the chart: helm template and helm lint --strict with the default
// values and with testdata/everything.yaml, every manifest decoded strictly
// into the Kubernetes API types (k8s.io/api) and the ConfigMap's
// configuration into sluss's own, then the properties a region relies on
// (probes, security context, mounted files, secrets from Secrets, the
// NetworkPolicy's ports); and the rendered configuration starting a real
// gateway against a real Vault (internal/vaulttest) with AppRole.
//
// For the unit: systemd-analyze verify and security, its options read
// back, and the real gateway run under the kernel's
// memory-deny-write-execute, as MemoryDenyWriteExecute=yes will run it.
//
// ./test.sh installs helm (go install helm.sh/helm/v3/cmd/helm) and builds
// vault-dev. Without helm, systemd-analyze or vault-dev the checks that need
// them are skipped, or fail when CI is set.
package check
