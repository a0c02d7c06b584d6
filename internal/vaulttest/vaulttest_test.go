package vaulttest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluss/sluss/internal/vaulttest"
)

func readPolicy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "vault", name+".hcl"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kvData returns data.data of a KV v2 read.
func kvData(t *testing.T, resp map[string]any) map[string]any {
	t.Helper()
	data, _ := resp["data"].(map[string]any)
	inner, _ := data["data"].(map[string]any)
	if inner == nil {
		t.Fatalf("KV v2 response has no data.data: %v", resp)
	}
	return inner
}

func wantStatus(t *testing.T, what string, got, want int, resp map[string]any) {
	t.Helper()
	if got != want {
		t.Errorf("%s: status %d, want %d (%v)", what, got, want, resp["errors"])
	}
}

func TestServer(t *testing.T) {
	v := vaulttest.Start(t)
	v.WritePolicy(t, "sluss-gateway", readPolicy(t, "sluss-gateway"))
	v.WritePolicy(t, "sluss-operator", readPolicy(t, "sluss-operator"))

	secret := map[string]any{"data": map[string]any{"key": "AGE-SECRET-KEY-PQ-1TEST"}}

	t.Run("KVv2WriteRead", func(t *testing.T) {
		status, resp := v.Request(t, http.MethodPost, "secret/data/sluss/x", v.RootToken, secret)
		wantStatus(t, "write", status, http.StatusOK, resp)
		status, resp = v.Request(t, http.MethodGet, "secret/data/sluss/x", v.RootToken, nil)
		wantStatus(t, "read", status, http.StatusOK, resp)
		if got := kvData(t, resp)["key"]; got != "AGE-SECRET-KEY-PQ-1TEST" {
			t.Errorf("read back %v", got)
		}
		status, resp = v.Request(t, http.MethodGet, "secret/metadata/sluss/x", v.RootToken, nil)
		wantStatus(t, "metadata", status, http.StatusOK, resp)
		status, resp = v.Request(t, http.MethodGet, "secret/data/sluss/missing", v.RootToken, nil)
		wantStatus(t, "read missing", status, http.StatusNotFound, resp)
	})

	t.Run("AppRoleGateway", func(t *testing.T) {
		roleID, secretID := v.AppRole(t, "gateway", "sluss-gateway")

		status, resp := v.Request(t, http.MethodPost, "auth/approle/login", "", map[string]any{
			"role_id": roleID, "secret_id": "not-the-secret-id",
		})
		wantStatus(t, "login with wrong secret_id", status, http.StatusBadRequest, resp)
		if resp["auth"] != nil {
			t.Errorf("login with wrong secret_id returned auth: %v", resp["auth"])
		}

		status, resp = v.Request(t, http.MethodPost, "auth/approle/login", "", map[string]any{
			"role_id": roleID, "secret_id": secretID,
		})
		wantStatus(t, "login", status, http.StatusOK, resp)
		auth, _ := resp["auth"].(map[string]any)
		token, _ := auth["client_token"].(string)
		if token == "" {
			t.Fatalf("login returned no token: %v", resp)
		}

		status, resp = v.Request(t, http.MethodGet, "secret/data/sluss/x", token, nil)
		wantStatus(t, "gateway read", status, http.StatusOK, resp)
		if got := kvData(t, resp)["key"]; got != "AGE-SECRET-KEY-PQ-1TEST" {
			t.Errorf("gateway read %v", got)
		}
		status, resp = v.Request(t, http.MethodGet, "secret/metadata/sluss/x", token, nil)
		wantStatus(t, "gateway metadata read", status, http.StatusOK, resp)
		status, resp = v.Request(t, http.MethodPost, "secret/data/sluss/x", token, secret)
		wantStatus(t, "gateway write", status, http.StatusForbidden, resp)
		status, resp = v.Request(t, http.MethodDelete, "secret/data/sluss/x", token, nil)
		wantStatus(t, "gateway delete", status, http.StatusForbidden, resp)
		status, resp = v.Request(t, "LIST", "secret/metadata/sluss/", token, nil)
		wantStatus(t, "gateway list", status, http.StatusForbidden, resp)
		status, resp = v.Request(t, http.MethodGet, "secret/data/other", token, nil)
		wantStatus(t, "gateway read outside sluss/", status, http.StatusForbidden, resp)
	})

	t.Run("GatewayPolicyAlone", func(t *testing.T) {
		// Without Vault's default policy, the gateway policy must still let a
		// token look itself up and renew itself.
		status, resp := v.Request(t, http.MethodPost, "auth/token/create", v.RootToken, map[string]any{
			"policies": []string{"sluss-gateway"}, "no_default_policy": true,
		})
		wantStatus(t, "create token", status, http.StatusOK, resp)
		auth, _ := resp["auth"].(map[string]any)
		token, _ := auth["client_token"].(string)

		status, resp = v.Request(t, http.MethodGet, "auth/token/lookup-self", token, nil)
		wantStatus(t, "lookup-self", status, http.StatusOK, resp)
		status, resp = v.Request(t, http.MethodPost, "auth/token/renew-self", token, map[string]any{})
		wantStatus(t, "renew-self", status, http.StatusOK, resp)
		status, resp = v.Request(t, http.MethodGet, "secret/data/sluss/x", token, nil)
		wantStatus(t, "read", status, http.StatusOK, resp)
	})

	t.Run("Operator", func(t *testing.T) {
		token := v.Token(t, "sluss-operator")
		rotated := map[string]any{"data": map[string]any{"key": "AGE-SECRET-KEY-PQ-1ROTATED"}}
		status, resp := v.Request(t, http.MethodPost, "secret/data/sluss/x", token, rotated)
		wantStatus(t, "operator write", status, http.StatusOK, resp)
		status, resp = v.Request(t, http.MethodGet, "secret/data/sluss/x?version=1", token, nil)
		wantStatus(t, "operator read old version", status, http.StatusOK, resp)
		if got := kvData(t, resp)["key"]; got != "AGE-SECRET-KEY-PQ-1TEST" {
			t.Errorf("version 1 is %v", got)
		}
		status, resp = v.Request(t, "LIST", "secret/metadata/sluss/", token, nil)
		wantStatus(t, "operator list", status, http.StatusOK, resp)
		status, resp = v.Request(t, http.MethodDelete, "secret/metadata/sluss/x", token, nil)
		wantStatus(t, "operator delete", status, http.StatusForbidden, resp)
		status, resp = v.Request(t, http.MethodPost, "secret/data/other", token, secret)
		wantStatus(t, "operator write outside sluss/", status, http.StatusForbidden, resp)
	})

	t.Run("NoPolicy", func(t *testing.T) {
		token := v.Token(t)
		status, resp := v.Request(t, http.MethodGet, "secret/data/sluss/x", token, nil)
		wantStatus(t, "read without policy", status, http.StatusForbidden, resp)
		status, resp = v.Request(t, http.MethodGet, "secret/data/sluss/x", "not-a-token", nil)
		wantStatus(t, "read with unknown token", status, http.StatusForbidden, resp)
	})

	t.Run("Stop", func(t *testing.T) {
		v.Stop()
		v.Stop() // idempotent
		resp, err := http.Get(v.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("Vault still answers after Stop: %s", resp.Status)
		}
	})
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := vaulttest.Start(t), vaulttest.Start(t)
	if a.Addr == b.Addr || a.RootToken == b.RootToken {
		t.Fatalf("servers share an address or token: %s %s", a.Addr, b.Addr)
	}
	status, resp := a.Request(t, http.MethodGet, "auth/token/lookup-self", b.RootToken, nil)
	wantStatus(t, "b's token on a", status, http.StatusForbidden, resp)
}

// TestRestart: a restarted server listens where it did and takes the same
// root token, and has forgotten everything else.
func TestRestart(t *testing.T) {
	v := vaulttest.Start(t)
	addr := v.Addr
	status, resp := v.Request(t, http.MethodPost, "secret/data/sluss/x", v.RootToken, map[string]any{"data": map[string]any{"k": "v"}})
	wantStatus(t, "write", status, http.StatusOK, resp)
	v.Restart(t)
	if v.Addr != addr {
		t.Fatalf("restarted on %s, not %s", v.Addr, addr)
	}
	status, resp = v.Request(t, http.MethodGet, "secret/data/sluss/x", v.RootToken, nil)
	wantStatus(t, "read after restart", status, http.StatusNotFound, resp)
	v.Stop()
	if _, err := http.Get(v.Addr + "/v1/sys/health"); err == nil {
		t.Error("the restarted server still answers after Stop")
	}
}
