// Package check renders and checks the deploy files: the Helm chart in
// deploy/helm/sluss (helm template and helm lint, every manifest decoded
// strictly into the Kubernetes API types, then its properties checked) and
// the systemd unit in deploy/systemd (systemd-analyze verify, and its
// hardening options). It is a module of its own so that the Kubernetes
// API types stay out of sluss's.
//
//	(cd deploy/check && go test ./...)
//
// ./test.sh installs helm (go install helm.sh/helm/v3/cmd/helm). Without
// helm or systemd-analyze the checks that need them are skipped, or fail
// when CI is set.
package check
