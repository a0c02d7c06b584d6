package nextcloud

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/sluss/sluss/gateway"
)

// keepAccount pseudonymizes a request as its inner transformer does, but
// leaves the account in WebDAV paths as the client wrote it:
// /remote.php/dav/files/ACCOUNT/… and /remote.php/dav/uploads/ACCOUNT/…,
// in the URL and the Destination header. The account is the server's
// name for the user, sent in the clear in the Authorization header
// anyway; were it replaced by a token (a user id that is a person's
// name, as LDAP-backed servers have), the server would know no such
// user. File and folder names below it are pseudonymized as ever.
type keepAccount struct {
	inner gateway.RequestTransformer
}

// WithLimits gives the wrapped transformer the gateway's limits.
func (k keepAccount) WithLimits(l gateway.Limits) gateway.RequestTransformer {
	switch t := k.inner.(type) {
	case gateway.Pseudonymize:
		t.Limits = l
		k.inner = t
	case gateway.PseudonymizeDocuments:
		t.Limits = l
		k.inner = t
	}
	return k
}

func (k keepAccount) TransformRequest(x *gateway.Exchange, req *http.Request) error {
	path, pathOK := accountOf(req.URL.EscapedPath())
	dest, destURL := "", (*url.URL)(nil)
	if v := req.Header.Get("Destination"); v != "" {
		if u, err := url.Parse(v); err == nil {
			if a, ok := accountOf(u.EscapedPath()); ok {
				dest, destURL = a, u
			}
		}
	}
	if err := k.inner.TransformRequest(x, req); err != nil {
		return err
	}
	if pathOK {
		if esc, ok := withAccount(req.URL.EscapedPath(), path); ok {
			setEscapedPath(req.URL, esc)
		}
	}
	if destURL != nil {
		if u, err := url.Parse(req.Header.Get("Destination")); err == nil {
			if esc, ok := withAccount(u.EscapedPath(), dest); ok {
				setEscapedPath(u, esc)
				req.Header.Set("Destination", u.String())
			}
		}
	}
	return nil
}

// davAccountRoots are the WebDAV trees whose fourth segment is the
// account.
var davAccountRoots = []string{"/remote.php/dav/files/", "/remote.php/dav/uploads/"}

// accountOf returns the escaped account segment of a WebDAV path.
func accountOf(esc string) (string, bool) {
	for _, root := range davAccountRoots {
		if rest, ok := strings.CutPrefix(esc, root); ok {
			a, _, _ := strings.Cut(rest, "/")
			return a, a != ""
		}
	}
	return "", false
}

// withAccount puts account back as the account segment of esc, which
// must still be under the same root.
func withAccount(esc, account string) (string, bool) {
	for _, root := range davAccountRoots {
		if rest, ok := strings.CutPrefix(esc, root); ok {
			_, tail, found := strings.Cut(rest, "/")
			if found {
				tail = "/" + tail
			}
			return root + account + tail, true
		}
	}
	return "", false
}

func setEscapedPath(u *url.URL, esc string) {
	p, err := url.PathUnescape(esc)
	if err != nil {
		return
	}
	u.Path, u.RawPath = p, esc
	if u.EscapedPath() != esc {
		u.RawPath = ""
	}
}
