package vaulttest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Request sends one request to the Vault HTTP API and returns the status code
// and the decoded JSON body (nil when the body is empty). path is relative to
// /v1/, as in "secret/data/sluss/x"; token may be empty; body, if not nil, is
// sent as JSON. Only a transport or decoding failure fails the test: the
// caller judges the status.
func (s *Server) Request(t testing.TB, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("vaulttest: failed to encode request for %s: %v", path, err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.Addr+"/v1/"+path, reqBody)
	if err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("vaulttest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("vaulttest: %s %s: failed to read response: %v", method, path, err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return resp.StatusCode, nil
	}
	var decoded map[string]any
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatalf("vaulttest: %s %s: status %d, response is not JSON: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, decoded
}

// must sends a request as root and fails the test unless it succeeds.
func (s *Server) must(t testing.TB, method, path string, body any) map[string]any {
	t.Helper()
	status, resp := s.Request(t, method, path, s.RootToken, body)
	if status != http.StatusOK && status != http.StatusNoContent {
		t.Fatalf("vaulttest: %s %s: status %d: %v", method, path, status, resp["errors"])
	}
	return resp
}

// WritePolicy writes an ACL policy, given as HCL, under name.
func (s *Server) WritePolicy(t testing.TB, name, hcl string) {
	t.Helper()
	s.must(t, http.MethodPut, "sys/policies/acl/"+url.PathEscape(name), map[string]any{"policy": hcl})
}

// Token creates a child of the root token that has the given policies and, as
// every ordinary Vault token, the default policy (lookup-self, renew-self,
// cubbyhole). With no policies it has the default policy alone, which grants
// nothing under secret/.
func (s *Server) Token(t testing.TB, policies ...string) string {
	t.Helper()
	resp := s.must(t, http.MethodPost, "auth/token/create", map[string]any{
		"policies": append([]string{"default"}, policies...),
	})
	return clientToken(t, resp)
}

// AppRole creates (or replaces) the AppRole role, whose logins get the given
// policies besides default, and returns its role_id and a new secret_id.
func (s *Server) AppRole(t testing.TB, role string, policies ...string) (roleID, secretID string) {
	t.Helper()
	path := "auth/approle/role/" + url.PathEscape(role)
	if policies == nil {
		policies = []string{}
	}
	s.must(t, http.MethodPost, path, map[string]any{"token_policies": policies})
	roleID = dataString(t, s.must(t, http.MethodGet, path+"/role-id", nil), "role_id")
	secretID = dataString(t, s.must(t, http.MethodPost, path+"/secret-id", nil), "secret_id")
	return roleID, secretID
}

func clientToken(t testing.TB, resp map[string]any) string {
	t.Helper()
	auth, _ := resp["auth"].(map[string]any)
	token, _ := auth["client_token"].(string)
	if token == "" {
		t.Fatalf("vaulttest: response has no auth.client_token")
	}
	return token
}

func dataString(t testing.TB, resp map[string]any, key string) string {
	t.Helper()
	data, _ := resp["data"].(map[string]any)
	v, _ := data[key].(string)
	if v == "" {
		t.Fatalf("vaulttest: response has no data.%s", key)
	}
	return v
}
