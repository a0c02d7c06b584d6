package check

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluss/sluss/internal/vaulttest"
)

// TestChartConfigServes: the configuration the chart puts in its ConfigMap
// starts a real gateway. A real Vault (vault-dev) holds the keys, made by
// an operator with sluss keys init; the gateway logs in with AppRole from
// the role_id and secret_id files where the pod would have them mounted
// (under a temporary root here), reads its client accounts, and reports
// ready.
func TestChartConfigServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sluss and runs it against Vault")
	}
	v := vaulttest.Start(t)
	for _, name := range []string{"sluss-gateway", "sluss-operator"} {
		hcl, err := os.ReadFile(filepath.Join("..", "vault", name+".hcl"))
		if err != nil {
			t.Fatal(err)
		}
		v.WritePolicy(t, name, string(hcl))
	}
	sluss := buildSluss(t)
	root := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	operator := write("operator.yaml", fmt.Sprintf("keys:\n  vault:\n    address: %s\n    auth:\n      token_file: %s\n",
		v.Addr, write("operator-token", v.Token(t, "sluss-operator"))))
	if out, err := exec.Command(sluss, "keys", "init", "--config", operator).CombinedOutput(); err != nil {
		t.Fatalf("sluss keys init: %v\n%s", err, out)
	}

	out, err := render(t, "--set", "vault.address="+v.Addr, "--set", "replicaCount=1", "--set", "postgres.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, out)
	// The pod's files, at the paths the Deployment mounts them, under root.
	roleID, secretID := v.AppRole(t, "sluss-gateway", "sluss-gateway")
	write("etc/sluss/vault/role_id", roleID+"\n")
	write("etc/sluss/vault/secret_id", secretID+"\n")
	hash, err := bcrypt.GenerateFromPassword([]byte("a client's password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	write("etc/sluss/users/users", "alice:"+string(hash)+"\n")
	cfg := m.configMap.Data["sluss.yaml"]
	for _, p := range []string{"/etc/sluss/", "/var/lib/sluss"} {
		if !strings.Contains(cfg, p) {
			t.Fatalf("the chart's configuration names no %s:\n%s", p, cfg)
		}
		cfg = strings.ReplaceAll(cfg, p, root+p)
	}
	config := write("etc/sluss/sluss.yaml", cfg)

	// Loopback listeners the test picks (flags beat the file); the rest is
	// the chart's.
	base, output := startServe(t, exec.Command(sluss, "serve", "--config", config, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"))
	client := &http.Client{Timeout: 10 * time.Second}
	var status int
	var body []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if status = resp.StatusCode; status == http.StatusOK {
			break
		}
	}
	if status != http.StatusOK {
		t.Fatalf("/readyz %d %s with the chart's configuration\nsluss output:\n%s", status, body, output.String())
	}
	// The keys came from Vault: the embedded store was never made.
	if _, err := os.Stat(filepath.Join(root, "var/lib/sluss/keys")); !os.IsNotExist(err) {
		t.Fatalf("the gateway made an embedded key store (%v)", err)
	}
}
