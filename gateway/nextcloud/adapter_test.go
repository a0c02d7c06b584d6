package nextcloud

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"hash/adler32"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluss/sluss/gateway"
)

func TestSeqOf(t *testing.T) {
	for _, c := range []struct {
		name, numbering string
		seq             int
		ok              bool
	}{
		{"1", numberingV2, 1, true},
		{"00042", numberingV2, 42, true},
		{"10000", numberingV2, 10000, true},
		{"0", numberingV2, 0, false},
		{"10001", numberingV2, 0, false},
		{"0000000000000000", numberingFromZero, 1, true},
		{"0000000000000009", numberingFromZero, 10, true},
		{"0000000000010000", numberingFromZero, 0, false},
		{"-1", numberingV2, 0, false},
		{"1a", numberingV2, 0, false},
		{"", numberingV2, 0, false},
		{"00000000000000001", numberingV2, 0, false},
	} {
		seq, err := seqOf(c.name, c.numbering)
		if (err == nil) != c.ok || seq != c.seq {
			t.Errorf("seqOf(%q, %s) = %d, %v; want %d, ok %v", c.name, c.numbering, seq, err, c.seq, c.ok)
		}
		if c.ok && chunkName(seq, c.numbering) != strings.TrimLeft(c.name, "0") && c.numbering == numberingV2 {
			t.Errorf("chunkName(%d) = %q, want %q", seq, chunkName(seq, c.numbering), c.name)
		}
		if c.ok && c.numbering == numberingFromZero && chunkName(seq, c.numbering) != c.name {
			t.Errorf("chunkName(%d) = %q, want %q", seq, chunkName(seq, c.numbering), c.name)
		}
	}
}

func TestByteRange(t *testing.T) {
	for _, c := range []struct {
		name       string
		start, end int64
		ok         bool
	}{
		{"000000000000000-000000010485759", 0, 10485759, true},
		{"5-4", 0, 0, false},
		{"1-", 0, 0, false},
		{"a-b", 0, 0, false},
		{"12", 0, 0, false},
	} {
		s, e, ok := byteRange(c.name)
		if ok != c.ok || (ok && (s != c.start || e != c.end)) {
			t.Errorf("byteRange(%q) = %d, %d, %v", c.name, s, e, ok)
		}
	}
}

func TestChecksum(t *testing.T) {
	data := []byte("the chunk's plaintext")
	s1 := sha1.Sum(data)
	m5 := md5.Sum(data)
	a32 := adler32.Checksum(data)
	for _, c := range []struct {
		header string
		ok     bool
	}{
		{"SHA1:" + hex.EncodeToString(s1[:]), true},
		{"sha1:" + strings.ToUpper(hex.EncodeToString(s1[:])), true},
		{"MD5:" + hex.EncodeToString(m5[:]), true},
		{"Adler32:" + hex.EncodeToString([]byte{byte(a32 >> 24), byte(a32 >> 16), byte(a32 >> 8), byte(a32)}), true},
		{"SHA3-256:00 MD5:" + hex.EncodeToString(m5[:]), true},
		{"MD5:" + hex.EncodeToString(s1[:16]), false},
	} {
		sum, err := newChecksum(c.header)
		if err != nil {
			t.Fatalf("%s: %v", c.header, err)
		}
		sum.Write(data)
		if err := sum.verify(); (err == nil) != c.ok {
			t.Errorf("%s: verify = %v, want ok %v", c.header, err, c.ok)
		}
	}
	if _, err := newChecksum("SHA3-256:00"); err == nil {
		t.Error("a checksum of no known type was accepted")
	}
}

func TestWithoutBulkUpload(t *testing.T) {
	in := `{"ocs":{"meta":{"statuscode":100},"data":{"version":{"major":28},"capabilities":{"dav":{"chunking":"1.0","bulkupload":"1.0"},"files":{"bigfilechunking":true}}}}}`
	out, err := withoutBulkUpload([]byte(in), "application/json; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "bulkupload") || !strings.Contains(string(out), `"chunking":"1.0"`) || !strings.Contains(string(out), `"statuscode":100`) {
		t.Errorf("JSON: %s", out)
	}
	xml := `<?xml version="1.0"?><ocs><data><capabilities><dav><chunking>1.0</chunking><bulkupload>1.0</bulkupload></dav></capabilities></data></ocs>`
	out, err = withoutBulkUpload([]byte(xml), "text/xml; charset=UTF-8")
	if err != nil || strings.Contains(string(out), "bulkupload") || !strings.Contains(string(out), "<chunking>1.0</chunking>") {
		t.Errorf("XML: %s %v", out, err)
	}
	if _, err := withoutBulkUpload([]byte("{broken"), "application/json"); err == nil {
		t.Error("a broken document was passed")
	}
}

func TestAccountSegment(t *testing.T) {
	for _, c := range []struct{ in, account, token, out string }{
		{"/remote.php/dav/files/Tolvan%20Tolvansson/a/b.txt", "Tolvan%20Tolvansson", "/remote.php/dav/files/sl_name1_x/a/sl_name1_y.txt", "/remote.php/dav/files/Tolvan%20Tolvansson/a/sl_name1_y.txt"},
		{"/remote.php/dav/uploads/Tolvan%20Tolvansson/42/1", "Tolvan%20Tolvansson", "/remote.php/dav/uploads/sl_name1_x/42/1", "/remote.php/dav/uploads/Tolvan%20Tolvansson/42/1"},
		{"/remote.php/dav/files/anna", "anna", "/remote.php/dav/files/anna", "/remote.php/dav/files/anna"},
	} {
		a, ok := accountOf(c.in)
		if !ok || a != c.account {
			t.Errorf("accountOf(%q) = %q, %v", c.in, a, ok)
		}
		if out, ok := withAccount(c.token, a); !ok || out != c.out {
			t.Errorf("withAccount(%q) = %q, %v; want %q", c.token, out, ok, c.out)
		}
	}
	if _, ok := accountOf("/remote.php/webdav/Tolvan/x"); ok {
		t.Error("the legacy webdav root has no account segment")
	}
}

func TestRefuseDotSegments(t *testing.T) {
	for p, refused := range map[string]bool{
		"/":                               false,
		"/status.php":                     false,
		"/remote.php/dav/files/u/dir/":    false,
		"/remote.php/dav/files/u/a.b/..c": false,
		"/remote.php/dav/files/u/../../dav/uploads/u/1/00001": true,
		"/remote.php/dav/files/u/./x":                         true,
		"/remote.php/dav/files/u//x":                          true,
		"/remote.php/dav/files/u/x/..":                        true,
	} {
		req := httptest.NewRequest("PUT", "https://cloud.example.test"+p, nil)
		err := refuseDotSegments{}.TransformRequest(&gateway.Exchange{}, req)
		if (err != nil) != refused {
			t.Errorf("%s: %v, want refused %v", p, err, refused)
		}
	}
	req := httptest.NewRequest("MOVE", "https://cloud.example.test/remote.php/dav/files/u/a", nil)
	req.Header.Set("Destination", "https://cloud.example.test/remote.php/dav/files/u/../../dav/uploads/u/1/.file")
	if err := (refuseDotSegments{}).TransformRequest(&gateway.Exchange{}, req); err == nil {
		t.Error("a Destination with .. segments was let through")
	}
}

func TestProfileOptions(t *testing.T) {
	a := &Adapter{}
	for _, opts := range []map[string]string{nil, {"documents": "true"}, {"documents": "false"}} {
		if _, err := a.Profile(opts); err != nil {
			t.Errorf("%v: %v", opts, err)
		}
	}
	for _, opts := range []map[string]string{{"documents": "yes"}, {"documents": "TRUE"}, {"region": "x"}} {
		if _, err := a.Profile(opts); err == nil {
			t.Errorf("%v was accepted", opts)
		}
	}
	// With documents, whole uploads and downloads go by the documents
	// profile's transformers (wrapped to keep the account), the rest by
	// webdav's.
	rules, err := a.Profile(map[string]string{"documents": "true"})
	if err != nil {
		t.Fatal(err)
	}
	var put, get bool
	for _, ru := range rules {
		for _, tr := range ru.Request {
			if k, ok := tr.(keepAccount); ok {
				if _, ok := k.inner.(gateway.PseudonymizeDocuments); ok {
					put = true
				}
			}
		}
		for _, tr := range ru.Response {
			if _, ok := tr.(gateway.ReidentifyDocuments); ok {
				get = true
			}
			if w, ok := tr.(gateway.WebDAVSizes); ok && !w.Documents {
				t.Error("listings of a documents service take age overhead off documents' sizes")
			}
		}
	}
	if !put || !get {
		t.Errorf("documents rules: PseudonymizeDocuments %v, ReidentifyDocuments %v", put, get)
	}
	lim := gateway.Limits{MaxDocumentBytes: 4711}
	if k := (keepAccount{gateway.PseudonymizeDocuments{}}).WithLimits(lim).(keepAccount); k.inner.(gateway.PseudonymizeDocuments).Limits != lim {
		t.Error("keepAccount does not hand the limits on")
	}
}
