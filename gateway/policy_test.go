package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPolicyLookup(t *testing.T) {
	p, err := NewPolicy(&Config{Default: "tunnel", Services: []ServiceConfig{
		{Name: "exact", Hosts: []string{"files.example.org"}},
		{Name: "wide", Hosts: []string{"*.example.org"}, Action: "block"},
		{Name: "narrow", Hosts: []string{"*.eu.example.org"}, Profile: "storage"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, want string }{
		{"files.example.org:443", "exact"},
		{"FILES.example.org.", "exact"},
		{"x.example.org", "wide"},
		{"a.b.eu.example.org:8443", "narrow"},
		{"example.org", "unlisted"},
		{"evil-example.org", "unlisted"},
	} {
		if got := p.Lookup(tc.host).Name; got != tc.want {
			t.Errorf("Lookup(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
	if p.Lookup("other.test").Action != Tunnel {
		t.Errorf("default action not applied")
	}
	for _, bad := range []string{"*", "*.", "a*.b", "host:443", ""} {
		if _, err := NewPolicy(&Config{Services: []ServiceConfig{{Hosts: []string{bad}}}}); err == nil {
			t.Errorf("host pattern %q accepted", bad)
		}
	}
	if _, err := NewPolicy(&Config{Default: "allow"}); err == nil {
		t.Errorf("default allow accepted")
	}
}

func TestRules(t *testing.T) {
	rules, err := buildRules(ServiceConfig{Profile: "webdav", Rules: []RuleConfig{
		{Methods: []string{"post"}, Path: "/api/*", ContentType: "application/json"},
		{Path: "/private/*", Deny: "private area"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := &Service{Name: "s", Rules: rules}
	req := func(method, path, ct string) *http.Request {
		r := httptest.NewRequest(method, "https://h"+path, nil)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		return r
	}
	if ru := svc.ruleFor(req("POST", "/api/x", "application/json; charset=utf-8")); len(ru.Request) != 0 || ru.Deny != "" {
		t.Errorf("custom rule not first")
	}
	if ru := svc.ruleFor(req("POST", "/api/x", "text/plain")); len(ru.Request) != 2 {
		t.Errorf("POST outside the custom rule is not encrypted")
	}
	if ru := svc.ruleFor(req("GET", "/private/a", "")); ru.Deny != "private area" {
		t.Errorf("deny rule not applied")
	}
	// A path the server would resolve to another is refused where rules
	// look at paths: each of these is /private/a at many servers.
	for _, p := range []string{"/api/../private/a", "/api/%2e%2e/private/a", "//private/a", "/api/./../private/a",
		"/api/..;/private/a", "/api/x%5c..%5c..%5cprivate%5ca", "/private/a//"} {
		if ru := svc.ruleFor(req("GET", p, "")); ru.Deny == "" || ru.Deny == "private area" {
			t.Errorf("%s: not refused as a path with dot segments (%q)", p, ru.Deny)
		}
	}
	if ru := svc.ruleFor(req("GET", "/api/a.b/..c/", "")); ru.Deny != "" {
		t.Errorf("a plain path with dots in its names refused: %s", ru.Deny)
	}
	if ru := svc.ruleFor(req("PROPFIND", "/", "")); ru.Deny != "" || len(ru.Response) != 2 {
		t.Errorf("webdav PROPFIND not allowed with size rewriting")
	}
	st, _ := buildRules(ServiceConfig{Profile: "storage"}, nil)
	if ru := (&Service{Rules: st}).ruleFor(req("MKCOL", "/", "")); ru.Deny == "" {
		t.Errorf("storage allows MKCOL")
	}
	if _, err := buildRules(ServiceConfig{Rules: []RuleConfig{{Request: []string{"decrypt"}}}}, nil); err == nil {
		t.Errorf("decrypt accepted as a request transformer")
	}
	if _, err := buildRules(ServiceConfig{Profile: "nope"}, nil); err == nil {
		t.Errorf("unknown profile accepted")
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h      string
		size   int64
		off, n int64
		ok     bool
	}{
		{"bytes=0-9", 100, 0, 10, true},
		{"bytes=90-", 100, 90, 10, true},
		{"bytes=90-200", 100, 90, 10, true},
		{"bytes=-10", 100, 90, 10, true},
		{"bytes=-200", 100, 0, 100, true},
		{"bytes=100-", 100, 100, 0, false},
		{"bytes=0-1,5-6", 100, -1, 0, false},
		{"items=0-1", 100, -1, 0, false},
		{"bytes=5-1", 100, -1, 0, false},
	} {
		off, n, ok := parseRange(tc.h, tc.size)
		if off != tc.off || n != tc.n || ok != tc.ok {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v; want %d, %d, %v", tc.h, tc.size, off, n, ok, tc.off, tc.n, tc.ok)
		}
	}
}
