package check

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/keys"
)

const chartDir = "../helm/sluss"

// helmBinary finds helm on PATH or where go install puts it; without it
// the test is skipped, or fails when CI is set.
func helmBinary(t *testing.T) string {
	t.Helper()
	return findTool(t, "helm", filepath.Join(build.Default.GOPATH, "bin", "helm"))
}

func findTool(t *testing.T, name string, alternatives ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range alternatives {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (./test.sh installs it)", name)
	}
	t.Skipf("%s not installed (./test.sh installs it)", name)
	return ""
}

// manifests is one rendering of the chart, every manifest decoded
// strictly into its Kubernetes API type.
type manifests struct {
	deployment     *appsv1.Deployment
	service        *corev1.Service
	pdb            *policyv1.PodDisruptionBudget
	networkPolicy  *networkingv1.NetworkPolicy
	configMap      *corev1.ConfigMap
	serviceAccount *corev1.ServiceAccount
	secrets        []*corev1.Secret
}

// render runs helm template on the chart; an error carries helm's
// message.
func render(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), append([]string{"template", "sluss", chartDir, "--namespace", "gateways"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decode splits helm's output into manifests and decodes each strictly
// (unknown or duplicate fields are errors) into the type its apiVersion
// and kind name; a kind the chart should not make fails the test.
func decode(t *testing.T, out []byte) *manifests {
	t.Helper()
	m := &manifests{}
	for _, doc := range docSeparator.Split(string(out), -1) {
		var tm metav1.TypeMeta
		if err := sigsyaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("manifest is not YAML: %v\n%s", err, doc)
		}
		if tm.Kind == "" && tm.APIVersion == "" {
			continue // comments only
		}
		var target any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			m.deployment = once(t, m.deployment, tm)
			target = m.deployment
		case "v1 Service":
			m.service = once(t, m.service, tm)
			target = m.service
		case "policy/v1 PodDisruptionBudget":
			m.pdb = once(t, m.pdb, tm)
			target = m.pdb
		case "networking.k8s.io/v1 NetworkPolicy":
			m.networkPolicy = once(t, m.networkPolicy, tm)
			target = m.networkPolicy
		case "v1 ConfigMap":
			m.configMap = once(t, m.configMap, tm)
			target = m.configMap
		case "v1 ServiceAccount":
			m.serviceAccount = once(t, m.serviceAccount, tm)
			target = m.serviceAccount
		case "v1 Secret":
			s := &corev1.Secret{}
			m.secrets = append(m.secrets, s)
			target = s
		default:
			t.Fatalf("unexpected manifest %s %s", tm.APIVersion, tm.Kind)
		}
		if err := sigsyaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Fatalf("%s does not decode strictly into its API type: %v\n%s", tm.Kind, err, doc)
		}
	}
	return m
}

// once returns a new T for a kind the chart makes once, failing the test
// on a second.
func once[T any](t *testing.T, have *T, tm metav1.TypeMeta) *T {
	t.Helper()
	if have != nil {
		t.Fatalf("two manifests of kind %s", tm.Kind)
	}
	return new(T)
}

// slussConfig is sluss's configuration file, as cmd/sluss reads it.
type slussConfig struct {
	Keys    keys.Config    `yaml:"keys"`
	Gateway gateway.Config `yaml:"gateway"`
}

// want is what a rendering must say beyond the invariants every
// rendering holds.
type want struct {
	replicas       int32
	image          string
	dbSecret       string // "": no PostgreSQL
	dbKey          string
	vaultPort      int32
	serviceType    corev1.ServiceType
	maxUnavailable string
	// egress is every port the gateways may reach, as "TCP/443";
	// DNS, Vault and, with dbSecret, PostgreSQL included.
	egress []string
	// files are paths the configuration must name, each mounted from
	// "configmap NAME KEY" or "secret NAME KEY".
	files map[string]string
}

func TestChart(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want want
	}{{
		name: "defaults",
		want: want{
			replicas:       3,
			image:          "registry.example/sluss/sluss:0.1.0",
			dbSecret:       "sluss-postgres",
			dbKey:          "url",
			vaultPort:      8200,
			serviceType:    corev1.ServiceTypeClusterIP,
			maxUnavailable: "1",
			egress:         []string{"UDP/53", "TCP/53", "TCP/8200", "TCP/5432", "TCP/443", "TCP/80"},
			files: map[string]string{
				"keys.vault.auth.approle.role_id_file":   "secret sluss-vault-approle role_id",
				"keys.vault.auth.approle.secret_id_file": "secret sluss-vault-approle secret_id",
				"gateway.users_file":                     "secret sluss-users users",
			},
		},
	}, {
		name: "everything",
		args: []string{"-f", "testdata/everything.yaml"},
		want: want{
			replicas:       5,
			image:          "registry.region.example/sluss:1.2.3",
			dbSecret:       "region-postgres",
			dbKey:          "database-url",
			vaultPort:      8201,
			serviceType:    corev1.ServiceTypeLoadBalancer,
			maxUnavailable: "2",
			egress:         []string{"UDP/53", "TCP/53", "TCP/8201", "TCP/5432", "TCP/443", "TCP/80", "TCP/8443"},
			files: map[string]string{
				"keys.vault.auth.approle.role_id_file":   "secret sluss-vault-approle role_id",
				"keys.vault.auth.approle.secret_id_file": "secret sluss-vault-approle secret_id",
				"keys.vault.ca_cert":                     "configmap region-vault-ca vault-ca.pem",
				"gateway.upstream_ca":                    "configmap region-ca region-ca.pem",
				"gateway.users_file":                     "secret sluss-users htpasswd",
			},
		},
	}, {
		name: "one gateway on the embedded store",
		args: []string{"--set", "replicaCount=1", "--set", "postgres.enabled=false"},
		want: want{
			replicas:       1,
			image:          "registry.example/sluss/sluss:0.1.0",
			vaultPort:      8200,
			serviceType:    corev1.ServiceTypeClusterIP,
			maxUnavailable: "1",
			egress:         []string{"UDP/53", "TCP/53", "TCP/8200", "TCP/443", "TCP/80"},
			files: map[string]string{
				"keys.vault.auth.approle.role_id_file":   "secret sluss-vault-approle role_id",
				"keys.vault.auth.approle.secret_id_file": "secret sluss-vault-approle secret_id",
				"gateway.users_file":                     "secret sluss-users users",
			},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := render(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, out)
			checkChart(t, m, tt.want)
			if tt.name == "everything" {
				checkCreatedSecret(t, m)
			} else if len(m.secrets) != 0 {
				t.Errorf("the chart made %d Secrets without vault.approle.create", len(m.secrets))
			}
		})
	}
}

// TestChartRefuses: values that would make a broken region do not render.
func TestChartRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"several gateways on the embedded store", []string{"--set", "postgres.enabled=false"}, "replicaCount > 1 needs postgres.enabled"},
		{"AppRole Secret without IDs", []string{"--set", "vault.approle.create=true"}, "vault.approle.roleId is required"},
		{"no Vault", []string{"--set", "vault.address="}, "vault.address is required"},
		{"no client accounts", []string{"--set", "users.existingSecret="}, "users.existingSecret is required"},
		{"no PostgreSQL Secret", []string{"--set", "postgres.existingSecret="}, "postgres.existingSecret is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("render: %v, want an error containing %q", err, tt.err)
			}
		})
	}
}

func TestChartLint(t *testing.T) {
	for _, values := range [][]string{nil, {"-f", "testdata/everything.yaml"}} {
		out, err := exec.Command(helmBinary(t), append([]string{"lint", "--strict", chartDir}, values...)...).CombinedOutput()
		if err != nil {
			t.Errorf("helm lint --strict %v: %v\n%s", values, err, out)
		}
	}
}

func checkChart(t *testing.T, m *manifests, w want) {
	t.Helper()
	for kind, missing := range map[string]bool{
		"Deployment": m.deployment == nil, "Service": m.service == nil,
		"PodDisruptionBudget": m.pdb == nil, "NetworkPolicy": m.networkPolicy == nil,
		"ConfigMap": m.configMap == nil, "ServiceAccount": m.serviceAccount == nil,
	} {
		if missing {
			t.Fatalf("no %s rendered", kind)
		}
	}
	d := m.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != w.replicas {
		t.Errorf("replicas %v, want %d", d.Spec.Replicas, w.replicas)
	}
	pod := d.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if c.Image != w.image {
		t.Errorf("image %q, want %q", c.Image, w.image)
	}

	// Every selector picks the gateways' pods.
	podLabels := labels.Set(pod.Labels)
	for name, sel := range map[string]*metav1.LabelSelector{
		"Deployment": d.Spec.Selector, "PodDisruptionBudget": m.pdb.Spec.Selector,
		"NetworkPolicy": &m.networkPolicy.Spec.PodSelector,
		"Service":       {MatchLabels: m.service.Spec.Selector},
	} {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() || !s.Matches(podLabels) {
			t.Errorf("%s selector %v does not pick the pods (labels %v): %v", name, sel, pod.Labels, err)
		}
	}

	checkSecurity(t, m)
	cfg := checkConfig(t, m, w)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if want := listenPort(t, "gateway.listen", cfg.Gateway.Listen); ports["proxy"] != want {
		t.Errorf("container port proxy %d, but sluss listens on %d", ports["proxy"], want)
	}
	adminPort := listenPort(t, "gateway.admin_listen", cfg.Gateway.AdminListen)
	if ports["admin"] != adminPort {
		t.Errorf("container port admin %d, but sluss's admin listener is on %d", ports["admin"], adminPort)
	}

	// Probes: ready on /readyz, alive on /healthz, both on the admin port.
	for name, p := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{
		"readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}, "startup": {c.StartupProbe, "/healthz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || resolvePort(ports, g.Port.String()) != adminPort {
			t.Errorf("%s probe GET %s on port %s, want %s on the admin port %d", name, g.Path, g.Port.String(), p.path, adminPort)
		}
	}

	// The database URL comes from a Secret, nothing secret is literal.
	var dbEnv *corev1.EnvVar
	for i, e := range c.Env {
		if e.Value != "" {
			t.Errorf("env %s has a literal value; secrets come from Secrets", e.Name)
		}
		if e.Name == "SLUSS_DATABASE_URL" {
			dbEnv = &c.Env[i]
		}
	}
	switch {
	case w.dbSecret == "" && dbEnv != nil:
		t.Errorf("SLUSS_DATABASE_URL set without PostgreSQL")
	case w.dbSecret != "" && (dbEnv == nil || dbEnv.ValueFrom == nil || dbEnv.ValueFrom.SecretKeyRef == nil):
		t.Errorf("SLUSS_DATABASE_URL %+v, want it from a secretKeyRef", dbEnv)
	case w.dbSecret != "":
		ref := dbEnv.ValueFrom.SecretKeyRef
		if ref.Name != w.dbSecret || ref.Key != w.dbKey || (ref.Optional != nil && *ref.Optional) {
			t.Errorf("SLUSS_DATABASE_URL from Secret %s key %s (optional %v), want %s key %s, required", ref.Name, ref.Key, ref.Optional, w.dbSecret, w.dbKey)
		}
	}

	// Sized from sluss bench (values.yaml).
	for name, q := range map[string]struct {
		got  resource.Quantity
		want string
	}{
		"requests.cpu":    {c.Resources.Requests[corev1.ResourceCPU], "1"},
		"requests.memory": {c.Resources.Requests[corev1.ResourceMemory], "256Mi"},
		"limits.memory":   {c.Resources.Limits[corev1.ResourceMemory], "512Mi"},
	} {
		if q.got.Cmp(resource.MustParse(q.want)) != 0 {
			t.Errorf("resources %s %s, want %s", name, q.got.String(), q.want)
		}
	}

	// The Service: proxy and admin, to the named container ports.
	svc := m.service
	if svc.Spec.Type != w.serviceType {
		t.Errorf("Service type %s, want %s", svc.Spec.Type, w.serviceType)
	}
	svcPorts := map[string]string{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = fmt.Sprintf("%d→%d", p.Port, resolvePort(ports, p.TargetPort.String()))
	}
	if want := map[string]string{"proxy": "8080→8080", "admin": "8081→8081"}; fmt.Sprint(svcPorts) != fmt.Sprint(want) {
		t.Errorf("Service ports %v, want %v", svcPorts, want)
	}

	if got := m.pdb.Spec.MaxUnavailable; got == nil || got.String() != w.maxUnavailable {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want %s", got, w.maxUnavailable)
	}
	checkNetworkPolicy(t, m.networkPolicy, ports, w)
}

// checkSecurity: unprivileged, read-only, no capabilities, the runtime's
// seccomp profile, no Kubernetes API token.
func checkSecurity(t *testing.T, m *manifests) {
	t.Helper()
	spec := m.deployment.Spec.Template.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v, want runAsNonRoot and a non-zero runAsUser", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile not RuntimeDefault")
	}
	sc := spec.Containers[0].SecurityContext
	switch {
	case sc == nil:
		t.Fatalf("no container securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("root filesystem not read-only")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("privilege escalation allowed")
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("privileged container")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Errorf("capabilities %+v, want drop [ALL] and none added", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("container seccompProfile not RuntimeDefault")
	}
	if a := spec.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("pod mounts a service account token")
	}
	if a := m.serviceAccount.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("ServiceAccount mounts its token")
	}
	if spec.ServiceAccountName != m.serviceAccount.Name {
		t.Errorf("pod runs as ServiceAccount %q, the chart made %q", spec.ServiceAccountName, m.serviceAccount.Name)
	}
}

// checkConfig decodes the ConfigMap's sluss.yaml with sluss's own types,
// strictly as sluss does, and checks that every file it names is there:
// the configuration file itself, the AppRole's files, CAs and users from
// their Secrets and ConfigMaps, and the data dir and audit log on writable
// volumes.
func checkConfig(t *testing.T, m *manifests, w want) *slussConfig {
	t.Helper()
	raw, ok := m.configMap.Data["sluss.yaml"]
	if !ok {
		t.Fatalf("ConfigMap has no sluss.yaml")
	}
	var cfg slussConfig
	dec := yaml.NewDecoder(strings.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("sluss.yaml does not decode as sluss's configuration: %v\n%s", err, raw)
	}
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(raw), &tree); err != nil {
		t.Fatal(err)
	}
	pod := m.deployment.Spec.Template.Spec
	c := pod.Containers[0]

	i := slices.Index(c.Args, "--config")
	if !slices.Equal(c.Args[:1], []string{"serve"}) || i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("args %q, want serve --config FILE", c.Args)
	}
	if got := mountedFrom(pod, c, c.Args[i+1]); got != "configmap "+m.configMap.Name+" sluss.yaml" {
		t.Errorf("--config %s is %q, want the chart's ConfigMap", c.Args[i+1], got)
	}

	files := map[string]string{}
	for _, key := range []string{
		"keys.vault.auth.approle.role_id_file", "keys.vault.auth.approle.secret_id_file",
		"keys.vault.auth.token_file", "keys.vault.ca_cert", "gateway.upstream_ca", "gateway.users_file",
	} {
		if p := lookup(tree, key); p != "" {
			files[key] = mountedFrom(pod, c, p)
		}
	}
	if fmt.Sprint(files) != fmt.Sprint(w.files) {
		t.Errorf("files the configuration names are mounted from\n%v\nwant\n%v", files, w.files)
	}
	if cfg.Keys.Vault == nil || cfg.Keys.Vault.Auth.AppRole == nil {
		t.Errorf("keys are not in Vault with AppRole: every gateway must share them")
	}
	for _, dir := range []string{cfg.Keys.DataDir, path.Dir(cfg.Gateway.AuditLog), os.TempDir()} {
		if dir != "." && !writable(pod, c, dir) {
			t.Errorf("%s is not on a writable volume (the root filesystem is read-only)", dir)
		}
	}
	for _, s := range m.secrets {
		if strings.Contains(raw, s.StringData["secret_id"]) || strings.Contains(raw, s.StringData["role_id"]) {
			t.Errorf("an AppRole ID is in the ConfigMap")
		}
	}
	return &cfg
}

// checkCreatedSecret: with vault.approle.create, the chart's Secret holds
// both IDs under the names the pod mounts.
func checkCreatedSecret(t *testing.T, m *manifests) {
	t.Helper()
	if len(m.secrets) != 1 {
		t.Fatalf("%d Secrets, want the AppRole's", len(m.secrets))
	}
	s := m.secrets[0]
	if s.Name != "sluss-vault-approle" || s.StringData["role_id"] != "8a1f-test-role" || s.StringData["secret_id"] != "test-secret-id" {
		t.Errorf("Secret %s holds %v, want role_id and secret_id", s.Name, slices.Sorted(maps.Keys(s.StringData)))
	}
}

// checkNetworkPolicy: in, only the proxy port (from the clients) and the
// admin port (from named peers); out, only the ports in w.egress, every
// rule to named peers, and the internet only on 80 and 443 without the
// private ranges.
func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, ports map[string]int32, w want) {
	t.Helper()
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	for _, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			t.Errorf("ingress rule %+v opens every port", r)
		}
		for _, p := range r.Ports {
			port := resolvePort(ports, p.Port.String())
			switch {
			case port == ports["proxy"]:
			case port == ports["admin"]:
				if len(r.From) == 0 {
					t.Errorf("admin port open to every source")
				}
			default:
				t.Errorf("ingress to port %s", p.Port.String())
			}
		}
	}

	var egress []string
	private := []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}
	for _, r := range np.Spec.Egress {
		if len(r.To) == 0 || len(r.Ports) == 0 {
			t.Errorf("egress rule %+v reaches every destination or every port", r)
			continue
		}
		var rulePorts []string
		for _, p := range r.Ports {
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if p.Port == nil || p.EndPort != nil {
				t.Errorf("egress rule with a port range or no port")
				continue
			}
			rulePorts = append(rulePorts, fmt.Sprintf("%s/%s", proto, p.Port.String()))
		}
		egress = append(egress, rulePorts...)
		for _, peer := range r.To {
			b := peer.IPBlock
			if b == nil {
				continue
			}
			_, n, err := net.ParseCIDR(b.CIDR)
			if err != nil {
				t.Errorf("ipBlock %q: %v", b.CIDR, err)
				continue
			}
			if ones, _ := n.Mask.Size(); ones > 0 {
				continue
			}
			// The internet: web ports only, never the private ranges.
			if n.IP.To4() != nil {
				for _, p := range private {
					if !slices.Contains(b.Except, p) {
						t.Errorf("egress to %s does not except %s", b.CIDR, p)
					}
				}
			} else if !slices.Contains(b.Except, "fc00::/7") {
				t.Errorf("egress to %s does not except fc00::/7", b.CIDR)
			}
			for _, p := range rulePorts {
				if p != "TCP/443" && p != "TCP/80" {
					t.Errorf("egress to %s on %s", b.CIDR, p)
				}
			}
		}
	}
	slices.Sort(egress)
	wantEgress := slices.Sorted(slices.Values(w.egress))
	if !slices.Equal(egress, wantEgress) {
		t.Errorf("egress ports %v, want %v", egress, wantEgress)
	}
	if !slices.Contains(egress, "TCP/"+strconv.Itoa(int(w.vaultPort))) {
		t.Errorf("no egress to Vault's port %d", w.vaultPort)
	}
}

// mountedFrom says where a file in the container comes from: "configmap
// NAME KEY", "secret NAME KEY", or "" when no volume provides it.
func mountedFrom(pod corev1.PodSpec, c corev1.Container, file string) string {
	for _, vm := range c.VolumeMounts {
		var key string
		switch {
		case vm.SubPath != "" && vm.MountPath == file:
			key = vm.SubPath
		case vm.SubPath == "" && path.Dir(file) == vm.MountPath:
			key = path.Base(file)
		default:
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name {
				continue
			}
			switch {
			case v.ConfigMap != nil:
				return "configmap " + v.ConfigMap.Name + " " + itemKey(v.ConfigMap.Items, key)
			case v.Secret != nil:
				return "secret " + v.Secret.SecretName + " " + itemKey(v.Secret.Items, key)
			}
		}
	}
	return ""
}

// itemKey is the key of a ConfigMap or Secret that appears as the file
// name in the volume.
func itemKey(items []corev1.KeyToPath, file string) string {
	if len(items) == 0 {
		return file
	}
	for _, it := range items {
		if it.Path == file {
			return it.Key
		}
	}
	return "(no item " + file + ")"
}

// writable reports whether dir is on a writable emptyDir mount.
func writable(pod corev1.PodSpec, c corev1.Container, dir string) bool {
	for _, vm := range c.VolumeMounts {
		if vm.ReadOnly || !(dir == vm.MountPath || strings.HasPrefix(dir, vm.MountPath+"/")) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

func resolvePort(named map[string]int32, port string) int32 {
	if p, ok := named[port]; ok {
		return p
	}
	n, _ := strconv.Atoi(port)
	return int32(n)
}

func listenPort(t *testing.T, key, addr string) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		t.Fatalf("%s %q: %v", key, addr, errors.Join(err, perr))
	}
	return int32(n)
}

// lookup returns the string at a dotted path in a YAML tree, or "".
func lookup(tree map[string]any, dotted string) string {
	var cur any = tree
	for _, k := range strings.Split(dotted, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[k]
	}
	s, _ := cur.(string)
	return s
}
