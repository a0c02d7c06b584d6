// Package nextcloudtest is a small Nextcloud server for end-to-end tests:
// the endpoints the desktop client (nextcloudcmd) and the web uploader
// use, over HTTPS, with files kept as plain files in a directory so a test
// can look at exactly what the provider stores.
//
// Start with [Start]; it serves
//
//   - status.php and the OCS capabilities (dav chunking "1.0") and user
//     endpoints, v1 and v2, JSON or XML;
//   - WebDAV under /remote.php/dav/files/USER/ and /remote.php/webdav/:
//     PROPFIND (Depth 0 and 1, with the oc: and nc: properties the
//     client reads), GET and HEAD (Range), PUT, MKCOL, MOVE, COPY, DELETE,
//     PROPPATCH (accepted, ignored);
//   - chunked upload v2 under /remote.php/dav/uploads/USER/ID/: MKCOL,
//     chunk PUTs, PROPFIND of the folder, MOVE of .file (chunks joined in
//     the natural order of their names, as Nextcloud's strnatcmp: 2 before
//     10; OC-Total-Length checked), DELETE;
//   - basic authentication, and a quota answered with 507.
//
// [Server.Requests] records every request (method, path, body size) so a
// test can tell whether file content moved.
package nextcloudtest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Host is the name the server's certificate is issued for (with its
// subdomains): httptest's certificate names example.com.
const Host = "cloud.example.com"

// Server is a running test Nextcloud.
type Server struct {
	// URL is https://127.0.0.1:PORT; Port its port.
	URL, Port string
	// CAFile is a PEM file holding the server's (self-signed) certificate.
	CAFile string
	// Dir holds users' files at Dir/files/USER/PATH and chunked uploads
	// at Dir/uploads/USER/ID/CHUNK.
	Dir string
	// User and Password are the one account's credentials.
	User, Password string
	// Version is what status.php and the capabilities report.
	Version string

	srv *httptest.Server

	mu       sync.Mutex
	quota    int64 // bytes the user may store; <0: unlimited
	fileIDs  map[string]int64
	nextID   int64
	requests []Request
	noLog    bool
}

// Request is what the server saw of one request.
type Request struct {
	Method, Path string
	// Body is the number of body bytes the server read.
	Body int64
	// Status is the answer's status code.
	Status int
	Header http.Header
}

// Start starts a server for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server keeping its files and certificate in dir (the
// bench uses it outside tests); Close stops it.
func New(dir string) (*Server, error) {
	s := &Server{
		Dir:      filepath.Join(dir, "data"),
		User:     "tester",
		Password: "correct horse battery staple",
		Version:  "28.0.4.1",
		quota:    -1,
		fileIDs:  map[string]int64{},
		nextID:   100,
	}
	for _, d := range []string{"files", "uploads"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d, s.User), 0o755); err != nil {
			return nil, err
		}
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.EnableHTTP2 = false
	s.srv.StartTLS()
	s.URL = s.srv.URL
	u, _ := url.Parse(s.URL)
	s.Port = u.Port()
	s.CAFile = filepath.Join(dir, "nextcloudtest-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	if err := os.WriteFile(s.CAFile, pemBytes, 0o644); err != nil {
		s.srv.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// KeepRequests sets whether Requests records (on by default); a long
// benchmark turns it off.
func (s *Server) KeepRequests(on bool) {
	s.mu.Lock()
	s.noLog = !on
	s.mu.Unlock()
}

// Client is an HTTP client that trusts the server, for direct requests.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// SetQuota limits what the user may store to n bytes (<0: unlimited).
func (s *Server) SetQuota(n int64) {
	s.mu.Lock()
	s.quota = n
	s.mu.Unlock()
}

// Requests returns what the server has seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// FilePath is where the user's file at p (slash-separated, relative to
// the user's root) is kept.
func (s *Server) FilePath(p string) string {
	return filepath.Join(s.Dir, "files", s.User, filepath.FromSlash(strings.TrimPrefix(p, "/")))
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body := &countingBody{ReadCloser: r.Body}
	r.Body = body
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.noLog {
			return
		}
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Body: body.n, Status: sw.status, Header: r.Header.Clone()})
	}()
	s.route(sw, r)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/status.php":
		s.status(w)
		return
	case p == "/" || p == "/index.php" || strings.HasPrefix(p, "/index.php/"):
		// The client probes the root and login flows; nothing to see.
		w.WriteHeader(http.StatusOK)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.User || pass != s.Password {
		w.Header().Set("WWW-Authenticate", `Basic realm="Nextcloud", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	switch {
	case strings.HasPrefix(p, "/ocs/v1.php/") || strings.HasPrefix(p, "/ocs/v2.php/"):
		s.ocs(w, r)
	case strings.HasPrefix(p, "/remote.php/dav/uploads/"+s.User+"/") || p == "/remote.php/dav/uploads/"+s.User:
		s.uploads(w, r, strings.TrimPrefix(p, "/remote.php/dav/uploads/"+s.User))
	case strings.HasPrefix(p, "/remote.php/dav/files/"+s.User+"/") || p == "/remote.php/dav/files/"+s.User:
		s.files(w, r, "/remote.php/dav/files/"+s.User, strings.TrimPrefix(p, "/remote.php/dav/files/"+s.User))
	case strings.HasPrefix(p, "/remote.php/webdav/") || p == "/remote.php/webdav":
		s.files(w, r, "/remote.php/webdav", strings.TrimPrefix(p, "/remote.php/webdav"))
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) status(w http.ResponseWriter) {
	major := strings.SplitN(s.Version, ".", 2)[0]
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"installed": true, "maintenance": false, "needsDbUpgrade": false,
		"version": s.Version, "versionstring": major + ".0.4", "edition": "",
		"productname": "Nextcloud", "extendedSupport": false,
	})
}

func (s *Server) ocs(w http.ResponseWriter, r *http.Request) {
	v2 := strings.HasPrefix(r.URL.Path, "/ocs/v2.php/")
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/ocs/v1.php"), "/ocs/v2.php")
	var data any
	switch rest {
	case "/cloud/capabilities":
		parts := strings.Split(s.Version, ".")
		num := func(i int) int {
			if i < len(parts) {
				n, _ := strconv.Atoi(parts[i])
				return n
			}
			return 0
		}
		data = map[string]any{
			"version": map[string]any{"major": num(0), "minor": num(1), "micro": num(2), "string": s.Version, "edition": "", "extendedSupport": false},
			"capabilities": map[string]any{
				"core":      map[string]any{"pollinterval": 60, "webdav-root": "remote.php/webdav"},
				"dav":       map[string]any{"chunking": "1.0"},
				"files":     map[string]any{"bigfilechunking": true, "undelete": false, "versioning": false, "blacklisted_files": []string{".htaccess"}},
				"checksums": map[string]any{"supportedTypes": []string{"SHA1"}, "preferredUploadType": "SHA1"},
			},
		}
	case "/cloud/user":
		data = map[string]any{"id": s.User, "display-name": "Test User", "email": nil, "enabled": true,
			"quota": map[string]any{"free": s.free(), "used": s.used(), "total": s.free() + s.used(), "relative": 0, "quota": s.quotaValue()}}
	default:
		http.NotFound(w, r)
		return
	}
	code := 100
	if v2 {
		code = 200
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"ocs": map[string]any{
		"meta": map[string]any{"status": "ok", "statuscode": code, "message": "OK"},
		"data": data,
	}})
}

func (s *Server) quotaValue() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quota
}

// used is what the user's files take.
func (s *Server) used() int64 {
	var n int64
	filepath.Walk(filepath.Join(s.Dir, "files", s.User), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// free is what the user may still store, -3 (Nextcloud's "unlimited")
// without a quota.
func (s *Server) free() int64 {
	q := s.quotaValue()
	if q < 0 {
		return -3
	}
	return max(0, q-s.used())
}

// fits reports whether n more bytes fit the quota.
func (s *Server) fits(n int64) bool {
	q := s.quotaValue()
	return q < 0 || s.used()+n <= q
}

func insufficientStorage(w http.ResponseWriter) {
	davError(w, http.StatusInsufficientStorage, `Sabre\DAV\Exception\InsufficientStorage`, "Insufficient space in the user's quota")
}

func davError(w http.ResponseWriter, status int, exception, message string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>
<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns"><s:exception>%s</s:exception><s:message>%s</s:message></d:error>
`, xmlEscape(exception), xmlEscape(message))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// cleanRel turns a URL path below a DAV root into a clean relative path,
// or false for one that climbs out.
func cleanRel(rel string) (string, bool) {
	if rel == "" {
		return "", true
	}
	c := path.Clean("/" + rel)
	if strings.Contains(rel, "/../") || strings.HasSuffix(rel, "/..") {
		return "", false
	}
	return strings.TrimPrefix(c, "/"), true
}

// fileID is the stable id of the file or folder at a disk path.
func (s *Server) fileID(disk string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.fileIDs[disk]
	if !ok {
		s.nextID++
		id = s.nextID
		s.fileIDs[disk] = id
	}
	return id
}

// moveIDs carries the ids of everything under from to to.
func (s *Server) moveIDs(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.fileIDs {
		if k == from || strings.HasPrefix(k, from+string(filepath.Separator)) {
			delete(s.fileIDs, k)
			s.fileIDs[to+strings.TrimPrefix(k, from)] = v
		}
	}
}

// etag of a file: its size and modification time; of a folder: a digest
// of its children's, so a change anywhere below shows at the top (the
// desktop client skips folders whose etag it knows).
func etag(disk string, fi os.FileInfo) string {
	if !fi.IsDir() {
		return fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size())
	}
	h := md5.New()
	entries, _ := os.ReadDir(disk)
	for _, e := range entries {
		ci, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(h, "%s/%s;", e.Name(), etag(filepath.Join(disk, e.Name()), ci))
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

func dirSize(disk string) int64 {
	var n int64
	filepath.Walk(disk, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// files serves the user's files; root is the URL prefix they are under.
func (s *Server) files(w http.ResponseWriter, r *http.Request, root, rel string) {
	rel, ok := cleanRel(rel)
	if !ok {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	disk := s.FilePath(rel)
	switch r.Method {
	case "PROPFIND":
		s.propfind(w, r, root, rel, disk, false)
	case http.MethodGet, http.MethodHead:
		fi, err := os.Stat(disk)
		if err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(disk)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"`+etag(disk, fi)+`"`)
		w.Header().Set("OC-ETag", `"`+etag(disk, fi)+`"`)
		w.Header().Set("OC-FileId", s.ocID(disk))
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", fi.ModTime(), f)
	case http.MethodPut:
		if r.ContentLength > 0 && !s.fits(r.ContentLength) {
			insufficientStorage(w)
			return
		}
		if _, err := os.Stat(filepath.Dir(disk)); err != nil {
			davError(w, http.StatusConflict, `Sabre\DAV\Exception\Conflict`, "the parent folder does not exist")
			return
		}
		existed := exists(disk)
		if err := writeFile(disk, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if !s.fits(0) {
			os.Remove(disk)
			insufficientStorage(w)
			return
		}
		s.finishFile(w, r, disk, existed)
	case "MKCOL":
		if exists(disk) {
			davError(w, http.StatusMethodNotAllowed, `Sabre\DAV\Exception\MethodNotAllowed`, "the resource exists")
			return
		}
		if err := os.Mkdir(disk, 0o755); err != nil {
			davError(w, http.StatusConflict, `Sabre\DAV\Exception\Conflict`, "the parent folder does not exist")
			return
		}
		w.Header().Set("OC-FileId", s.ocID(disk))
		w.WriteHeader(http.StatusCreated)
	case http.MethodDelete:
		if !exists(disk) || rel == "" {
			http.NotFound(w, r)
			return
		}
		os.RemoveAll(disk)
		w.WriteHeader(http.StatusNoContent)
	case "MOVE", "COPY":
		dest, ok := s.destination(r)
		if !ok {
			http.Error(w, "bad Destination", http.StatusBadRequest)
			return
		}
		if !exists(disk) {
			http.NotFound(w, r)
			return
		}
		existed := exists(dest)
		if existed && r.Header.Get("Overwrite") == "F" {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		os.RemoveAll(dest)
		var err error
		if r.Method == "MOVE" {
			err = os.Rename(disk, dest)
			s.moveIDs(disk, dest)
		} else {
			err = copyFile(disk, dest)
		}
		if err != nil {
			davError(w, http.StatusConflict, `Sabre\DAV\Exception\Conflict`, "cannot move there")
			return
		}
		s.finishFile(w, r, dest, existed)
	case "PROPPATCH":
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusMultiStatus)
		fmt.Fprintf(w, `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>%s</d:href><d:propstat><d:prop/><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`, xmlEscape(hrefFor(root, rel, false)))
	case http.MethodOptions:
		w.Header().Set("DAV", "1, 3, extended-mkcol")
		w.Header().Set("Allow", "OPTIONS, GET, HEAD, DELETE, PROPFIND, PUT, PROPPATCH, COPY, MOVE, REPORT, MKCOL")
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// finishFile sets a file's mtime from X-OC-Mtime and answers an upload.
func (s *Server) finishFile(w http.ResponseWriter, r *http.Request, disk string, existed bool) {
	if mt := r.Header.Get("X-OC-Mtime"); mt != "" {
		if n, err := strconv.ParseInt(mt, 10, 64); err == nil {
			t := time.Unix(n, 0)
			os.Chtimes(disk, t, t)
			w.Header().Set("X-OC-MTime", "accepted")
		}
	}
	fi, err := os.Stat(disk)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	tag := `"` + etag(disk, fi) + `"`
	w.Header().Set("ETag", tag)
	w.Header().Set("OC-ETag", tag)
	w.Header().Set("OC-FileId", s.ocID(disk))
	if existed {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
}

// ocID is Nextcloud's oc:id: the file id padded, and an instance id.
func (s *Server) ocID(disk string) string {
	return fmt.Sprintf("%08docnctest", s.fileID(disk))
}

// destination is the disk path the Destination header names, which must
// be below the user's files.
func (s *Server) destination(r *http.Request) (string, bool) {
	u, err := url.Parse(r.Header.Get("Destination"))
	if err != nil {
		return "", false
	}
	for _, root := range []string{"/remote.php/dav/files/" + s.User + "/", "/remote.php/webdav/"} {
		if rel, ok := strings.CutPrefix(u.Path, root); ok {
			rel, ok := cleanRel(rel)
			if !ok || rel == "" {
				return "", false
			}
			return s.FilePath(rel), true
		}
	}
	return "", false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func writeFile(p string, r io.Reader) error {
	tmp := p + ".part-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, p)
}

func copyFile(from, to string) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeFile(to, f)
}

func hrefFor(root, rel string, dir bool) string {
	p := root + "/" + rel
	if dir && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return (&url.URL{Path: p}).EscapedPath()
}

// propfind answers with the resource and, at Depth 1, its children.
func (s *Server) propfind(w http.ResponseWriter, r *http.Request, root, rel, disk string, upload bool) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	fi, err := os.Stat(disk)
	if err != nil {
		davError(w, http.StatusNotFound, `Sabre\DAV\Exception\NotFound`, "no such file or folder")
		return
	}
	depth := r.Header.Get("Depth")
	if depth == "" || depth == "infinity" {
		depth = "1"
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>` + "\n" + `<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">`)
	s.propEntry(&b, root, rel, disk, fi, upload)
	if fi.IsDir() && depth == "1" {
		entries, _ := os.ReadDir(disk)
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			if strings.Contains(e.Name(), ".part-") {
				continue
			}
			ci, err := e.Info()
			if err != nil {
				continue
			}
			s.propEntry(&b, root, path.Join(rel, e.Name()), filepath.Join(disk, e.Name()), ci, upload)
		}
	}
	b.WriteString("</d:multistatus>\n")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	io.WriteString(w, b.String())
}

func (s *Server) propEntry(b *strings.Builder, root, rel, disk string, fi os.FileInfo, upload bool) {
	tag := etag(disk, fi)
	fmt.Fprintf(b, "<d:response><d:href>%s</d:href><d:propstat><d:prop>", xmlEscape(hrefFor(root, rel, fi.IsDir())))
	fmt.Fprintf(b, "<d:getlastmodified>%s</d:getlastmodified>", fi.ModTime().UTC().Format(http.TimeFormat))
	fmt.Fprintf(b, `<d:getetag>"%s"</d:getetag>`, tag)
	if fi.IsDir() {
		b.WriteString("<d:resourcetype><d:collection/></d:resourcetype>")
		fmt.Fprintf(b, "<oc:size>%d</oc:size>", dirSize(disk))
		if !upload {
			b.WriteString("<oc:permissions>RGDNVCK</oc:permissions>")
			if rel == "" {
				fmt.Fprintf(b, "<d:quota-available-bytes>%d</d:quota-available-bytes><d:quota-used-bytes>%d</d:quota-used-bytes>", s.free(), s.used())
			}
		}
	} else {
		b.WriteString("<d:resourcetype/>")
		fmt.Fprintf(b, "<d:getcontentlength>%d</d:getcontentlength>", fi.Size())
		fmt.Fprintf(b, "<oc:size>%d</oc:size>", fi.Size())
		b.WriteString("<d:getcontenttype>application/octet-stream</d:getcontenttype>")
		if !upload {
			b.WriteString("<oc:permissions>RGDNVW</oc:permissions>")
		}
	}
	if !upload {
		fmt.Fprintf(b, "<oc:id>%s</oc:id><oc:fileid>%d</oc:fileid>", s.ocID(disk), s.fileID(disk))
		b.WriteString("<oc:share-types/><nc:has-preview>false</nc:has-preview><nc:is-encrypted>0</nc:is-encrypted>")
		b.WriteString("<oc:owner-id>" + xmlEscape(s.User) + "</oc:owner-id>")
	}
	b.WriteString("</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>")
}

// maxChunk is the highest chunk number chunking v2 allows.
const maxChunk = 10000

// uploads serves chunked uploads: rel is /ID, /ID/CHUNK or /ID/.file.
func (s *Server) uploads(w http.ResponseWriter, r *http.Request, rel string) {
	rel, ok := cleanRel(rel)
	if !ok || rel == "" {
		if r.Method == "PROPFIND" && rel == "" {
			s.propfind(w, r, "/remote.php/dav/uploads/"+s.User, "", filepath.Join(s.Dir, "uploads", s.User), true)
			return
		}
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	id, chunk, _ := strings.Cut(rel, "/")
	folder := filepath.Join(s.Dir, "uploads", s.User, id)
	switch {
	case chunk == "" && r.Method == "MKCOL":
		if tl := r.Header.Get("OC-Total-Length"); tl != "" {
			n, err := strconv.ParseInt(tl, 10, 64)
			if err != nil || n < 0 {
				http.Error(w, "bad OC-Total-Length", http.StatusBadRequest)
				return
			}
			if !s.fits(n) {
				insufficientStorage(w)
				return
			}
		}
		if err := os.Mkdir(folder, 0o755); err != nil {
			davError(w, http.StatusMethodNotAllowed, `Sabre\DAV\Exception\MethodNotAllowed`, "the upload exists")
			return
		}
		w.WriteHeader(http.StatusCreated)
	case chunk == "" && r.Method == "PROPFIND":
		s.propfind(w, r, "/remote.php/dav/uploads/"+s.User, id, folder, true)
	case chunk == "" && r.Method == http.MethodDelete:
		if !exists(folder) {
			http.NotFound(w, r)
			return
		}
		os.RemoveAll(folder)
		w.WriteHeader(http.StatusNoContent)
	case chunk == ".file" && r.Method == "MOVE":
		s.assemble(w, r, folder)
	case chunk != "" && !strings.Contains(chunk, "/") && r.Method == http.MethodPut:
		if !exists(folder) {
			davError(w, http.StatusNotFound, `Sabre\DAV\Exception\NotFound`, "no such upload")
			return
		}
		if r.ContentLength > 0 && !s.fits(r.ContentLength) {
			insufficientStorage(w)
			return
		}
		if err := writeFile(filepath.Join(folder, chunk), r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	case chunk != "" && r.Method == http.MethodDelete:
		os.Remove(filepath.Join(folder, chunk))
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "not supported on an upload", http.StatusMethodNotAllowed)
	}
}

// naturalLess orders names as PHP's strnatcmp: runs of digits compare
// as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// assemble joins an upload's chunks, in the natural order of their names, into
// the file the Destination header names.
func (s *Server) assemble(w http.ResponseWriter, r *http.Request, folder string) {
	dest, ok := s.destination(r)
	if !ok {
		http.Error(w, "bad Destination", http.StatusBadRequest)
		return
	}
	entries, err := os.ReadDir(folder)
	if err != nil {
		davError(w, http.StatusNotFound, `Sabre\DAV\Exception\NotFound`, "no such upload")
		return
	}
	var names []string
	var total int64
	for _, e := range entries {
		if strings.Contains(e.Name(), ".part-") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		names = append(names, e.Name())
		total += fi.Size()
	}
	if len(names) > maxChunk {
		davError(w, http.StatusBadRequest, `Sabre\DAV\Exception\BadRequest`, "too many chunks")
		return
	}
	sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
	if tl := r.Header.Get("OC-Total-Length"); tl != "" {
		if n, err := strconv.ParseInt(tl, 10, 64); err != nil || n != total {
			davError(w, http.StatusBadRequest, `Sabre\DAV\Exception\BadRequest`, fmt.Sprintf("chunks on server do not sum up to %s but to %d bytes", tl, total))
			return
		}
	}
	if !s.fits(total) {
		insufficientStorage(w)
		return
	}
	if _, err := os.Stat(filepath.Dir(dest)); err != nil {
		davError(w, http.StatusConflict, `Sabre\DAV\Exception\Conflict`, "the parent folder does not exist")
		return
	}
	readers := make([]io.Reader, 0, len(names))
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, n := range names {
		f, err := os.Open(filepath.Join(folder, n))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		files = append(files, f)
		readers = append(readers, f)
	}
	existed := exists(dest)
	if err := writeFile(dest, io.MultiReader(readers...)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	os.RemoveAll(folder)
	s.finishFile(w, r, dest, existed)
}

// SetUser renames the account (its files and uploads move along), for
// tests of user ids that look like personal data.
func (s *Server) SetUser(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range []string{"files", "uploads"} {
		if err := os.Rename(filepath.Join(s.Dir, d, s.User), filepath.Join(s.Dir, d, name)); err != nil {
			return err
		}
	}
	s.User = name
	return nil
}
