package gateway

import (
	"fmt"
	"mime"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
)

// Rule says what to do with the requests of a service it matches. Empty
// match fields match everything.
type Rule struct {
	Methods     []string // upper case
	Path        string   // path.Match pattern; a trailing * matches any rest
	ContentType string   // media type or prefix such as "multipart/"
	Request     []RequestTransformer
	Response    []ResponseTransformer
	// Deny, when not empty, refuses matching requests with this reason.
	Deny string
	// WebSocket is what happens to WebSocket upgrades; empty: derived
	// from the transformers (see [WebSocketMode]).
	WebSocket WebSocketMode
	// WebSocketBinary lets binary messages through a pseudonymized
	// WebSocket session unchanged; otherwise they are refused (close 1003).
	WebSocketBinary bool
}

// Match reports whether the rule applies to r.
func (ru *Rule) Match(r *http.Request) bool {
	if len(ru.Methods) > 0 && !slices.Contains(ru.Methods, r.Method) {
		return false
	}
	if ru.Path != "" && !matchPath(ru.Path, r.URL.Path) {
		return false
	}
	if ru.ContentType != "" {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if !strings.HasPrefix(mt, ru.ContentType) {
			return false
		}
	}
	return true
}

func matchPath(pattern, p string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok && !strings.ContainsAny(prefix, "*?[") {
		return strings.HasPrefix(p, prefix)
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

// ruleFor returns the first matching rule, or a denying one.
//
// Where a rule looks at paths, a path the provider would read as another
// is refused: "/shared/../secret.docx" matches "/shared/*" here but is
// /secret.docx at the server, as are "//", "/shared/..;/x" (a Java
// server's path parameters) and backslashes (IIS).
func (s *Service) ruleFor(r *http.Request) *Rule {
	if s.pathRules() && !plainPath(r.URL.Path) {
		return &Rule{Deny: "service " + s.Name + " has rules by path, and this path has empty, . or .. segments or backslashes, which the provider may resolve to another path"}
	}
	for i := range s.Rules {
		if s.Rules[i].Match(r) {
			return &s.Rules[i]
		}
	}
	return &Rule{Deny: "no rule of service " + s.Name + " allows " + r.Method + " requests"}
}

// pathRules reports whether a rule of s matches by path.
func (s *Service) pathRules() bool {
	for i := range s.Rules {
		if s.Rules[i].Path != "" {
			return true
		}
	}
	return false
}

// plainPath reports whether p names itself: no empty, "." or ".."
// segments (also as "..;param"), no backslash. A trailing slash is a
// folder's and allowed.
func plainPath(p string) bool {
	if strings.Contains(p, "\\") {
		return false
	}
	rest := strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
	if rest == "" {
		return true
	}
	for _, seg := range strings.Split(rest, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

var (
	uploadMethods = []string{http.MethodPut, http.MethodPost, http.MethodPatch}
	readMethods   = []string{http.MethodGet, http.MethodHead}
	otherMethods  = []string{http.MethodDelete, http.MethodOptions}
	davMethods    = []string{"PROPFIND", "PROPPATCH", "MKCOL", "MOVE", "COPY", "LOCK", "UNLOCK"}
)

// profiles are the built-in rule lists.
var profiles = map[string]func() []Rule{
	// inspect observes: TLS terminated, audited, nothing transformed.
	"inspect": func() []Rule { return []Rule{{}} },
	// storage encrypts uploads (whole bodies, or the file parts of forms)
	// and decrypts age files coming back; what it does not encrypt (URL
	// paths, queries, file names, the text parts of forms) it
	// pseudonymizes, and it re-identifies responses for users allowed to.
	"storage": storageRules,
	// webdav is storage plus the WebDAV methods, whose listings report the
	// plaintext sizes of the encrypted files and the original file names.
	"webdav": func() []Rule {
		meta := []RequestTransformer{Pseudonymize{MarkupAsText: true}}
		return append(storageRules(),
			Rule{Methods: []string{"PROPFIND"}, Request: meta, Response: []ResponseTransformer{Reidentify{}, WebDAVSizes{}}},
			Rule{Methods: davMethods, Request: meta, Response: []ResponseTransformer{Reidentify{}}})
	},
	// documents is storage, except that office documents (DOCX, XLSX,
	// PPTX, ODT, ODS, ODP), uploaded whole or in multipart forms, are
	// pseudonymized inside instead of encrypted, and re-identified on the
	// way back for users allowed to.
	"documents": func() []Rule {
		meta := []RequestTransformer{Pseudonymize{MarkupAsText: true}}
		read := []ResponseTransformer{Reidentify{}, ReidentifyDocuments{}, Decrypt{}}
		return []Rule{
			{Methods: uploadMethods, Request: []RequestTransformer{PseudonymizeDocuments{}}, Response: read},
			{Methods: readMethods, Request: meta, Response: read},
			{Methods: otherMethods, Request: meta, Response: []ResponseTransformer{Reidentify{}}},
		}
	},
	// form pseudonymizes: JSON, form, text and CSV bodies, URLs and file
	// names leave with tokens, and responses are re-identified. A body it
	// cannot pseudonymize is refused, except the file parts of multipart
	// forms, which are encrypted: file contents never leave in plaintext.
	"form": func() []Rule {
		req := []RequestTransformer{Pseudonymize{}}
		read := []ResponseTransformer{Reidentify{}, Decrypt{}}
		return []Rule{
			{Methods: uploadMethods, Request: req, Response: read},
			{Methods: readMethods, Request: req, Response: read},
			{Methods: otherMethods, Request: req, Response: []ResponseTransformer{Reidentify{}}},
		}
	},
}

func storageRules() []Rule {
	// Uploads: names, paths and form text parts pseudonymized, the body
	// left to Encrypt. Other methods encrypt nothing, so whatever body
	// they carry is pseudonymized (or refused) like metadata.
	meta := []RequestTransformer{Pseudonymize{MarkupAsText: true}}
	read := []ResponseTransformer{Reidentify{}, Decrypt{}}
	return []Rule{
		{Methods: uploadMethods, Request: []RequestTransformer{Pseudonymize{EncryptedBody: true}, Encrypt{}}, Response: read},
		{Methods: readMethods, Request: meta, Response: read},
		{Methods: otherMethods, Request: meta, Response: []ResponseTransformer{Reidentify{}}},
	}
}

// pseudonymizes reports whether any rule of the service pseudonymizes.
func (s *Service) pseudonymizes() bool {
	for i := range s.Rules {
		if s.Rules[i].pseudonymizes() {
			return true
		}
	}
	return false
}

// pseudonymizes reports whether a rule pseudonymizes requests.
func (ru *Rule) pseudonymizes() bool {
	for _, t := range ru.Request {
		switch t.(type) {
		case Pseudonymize, PseudonymizeDocuments:
			return true
		}
	}
	return false
}

func profileNames(extra map[string]ProfileFunc) string {
	names := make([]string, 0, len(profiles)+len(extra))
	for n := range profiles {
		names = append(names, n)
	}
	for n := range extra {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// buildRules returns the custom rules of a service followed by its
// profile's.
func buildRules(sc ServiceConfig, extra map[string]ProfileFunc) ([]Rule, error) {
	builtins := builtinTransformers()
	var rules []Rule
	for i, rc := range sc.Rules {
		ru := Rule{Path: rc.Path, ContentType: rc.ContentType, Deny: rc.Deny}
		for _, m := range rc.Methods {
			ru.Methods = append(ru.Methods, strings.ToUpper(m))
		}
		for _, n := range rc.Request {
			t, ok := builtins[n].(RequestTransformer)
			if !ok {
				return nil, fmt.Errorf("rule %d: %q is not a request transformer", i+1, n)
			}
			ru.Request = append(ru.Request, t)
		}
		for _, n := range rc.Response {
			t, ok := builtins[n].(ResponseTransformer)
			if !ok {
				return nil, fmt.Errorf("rule %d: %q is not a response transformer", i+1, n)
			}
			ru.Response = append(ru.Response, t)
		}
		if err := parseWebSocket(&ru, rc.WebSocket, rc.WebSocketBinary); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
		rules = append(rules, ru)
	}
	profile := sc.Profile
	if profile == "" {
		profile = "inspect"
	}
	if mk := extra[profile]; mk != nil {
		more, err := mk(sc.Options)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", profile, err)
		}
		return append(rules, more...), nil
	}
	mk, ok := profiles[profile]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (known: %s)", profile, profileNames(extra))
	}
	if len(sc.Options) > 0 {
		return nil, fmt.Errorf("profile %s takes no options", profile)
	}
	return append(rules, mk()...), nil
}

// ProfileRules returns the rules of a built-in profile ("webdav",
// "storage"…), for protocol adapters that extend one: the nextcloud
// profile is webdav plus chunked upload.
func ProfileRules(name string) ([]Rule, error) {
	mk, ok := profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown built-in profile %q", name)
	}
	return mk(), nil
}
