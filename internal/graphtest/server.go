// Package graphtest is a test server for the part of Microsoft Graph's
// OneDrive API that uploads and downloads files: upload sessions
// (driveItem: createUploadSession and "upload large files with an upload
// session"), simple uploads, item metadata and /content downloads. It is
// written from Microsoft's documentation, strict where the service is
// documented to be strict, so that a gateway in front of it is held to the
// protocol.
//
// Start one with [Start]. It answers two kinds of host, as the service
// does: the API host (graph.microsoft.com; requests need the bearer
// token) and the host of upload and download URLs (*.up.1drv.com,
// *.sharepoint.com; pre-authenticated, and an Authorization header there
// is refused with 401). Both are served on one listener and told apart by
// the Host header. Stored files are plain files under Dir ([Server.ItemPath]),
// so a test can run `age -d` on them.
//
// The upload-session rules: fragments are PUT in order with
// "Content-Range: bytes a-b/total" and an exact Content-Length; every
// fragment but the last is a multiple of 320 KiB and none exceeds 60 MiB;
// the total matches item.fileSize when it was given and stays the same; a
// fragment that does not start where the last one ended gets 416; a
// fragment cut short is dropped whole. 202 answers carry
// nextExpectedRanges; the last fragment's answer is the driveItem (201
// new, 200 replaced) with the size and quickXorHash of the stored bytes.
// An empty file cannot be uploaded in a session (Graph wants a simple
// upload for that): a fileSize of 0 is refused.
package graphtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fragment rules of upload sessions.
const (
	Granule     = 320 << 10 // every fragment but the last is a multiple of this
	MaxFragment = 60 << 20  // no fragment is larger
)

// Server is a running emulator.
type Server struct {
	Addr       string // 127.0.0.1:PORT
	Dir        string // stored files
	GraphHost  string // the API host name
	UploadHost string // the host name of upload and download URLs
	Token      string // the bearer token the API host wants

	srv *http.Server

	mu       sync.Mutex
	sessions map[string]*session
	items    map[string]*Item
	seen     strings.Builder
}

// Item is a stored file.
type Item struct {
	ID, Name string
	Parent   string // the folder, as the path addressed it ("root" or "items/ID")
	Size     int64
	QuickXor string
}

type session struct {
	busy    sync.Mutex // one fragment at a time
	id      string
	parent  string
	name    string
	replace string // id of the item it replaces
	size    int64  // -1 until the first fragment
	got     int64
	hash    QuickXorHash
	file    *os.File
	expires time.Time
}

// Start starts an emulator on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB, graphHost, uploadHost string) *Server {
	t.Helper()
	s, err := New(t.TempDir(), graphHost, uploadHost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// New starts an emulator on 127.0.0.1 that keeps its files in dir (for
// programs that are not tests, such as sluss bench); Close stops it.
func New(dir, graphHost, uploadHost string) (*Server, error) {
	s := &Server{
		Dir: dir, GraphHost: graphHost, UploadHost: uploadHost, Token: "graphtest-token",
		sessions: map[string]*session{}, items: map[string]*Item{},
	}
	for _, d := range []string{"sessions", "items"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr = l.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(l)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Delete removes a stored item.
func (s *Server) Delete(id string) {
	s.mu.Lock()
	delete(s.items, id)
	s.mu.Unlock()
	os.Remove(s.ItemPath(id))
}

// Dial connects to the server whatever the address asked, for clients
// that reach its names directly.
func (s *Server) Dial(ctx context.Context, network, _ string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, s.Addr)
}

// Port is the listener's port.
func (s *Server) Port() string { _, p, _ := net.SplitHostPort(s.Addr); return p }

// APIBase is the API's base URL, http://GRAPHHOST:PORT/v1.0.
func (s *Server) APIBase() string { return "http://" + s.GraphHost + ":" + s.Port() + "/v1.0" }

// ItemPath is where the bytes of the item with this id are stored.
func (s *Server) ItemPath(id string) string { return filepath.Join(s.Dir, "items", id) }

// Items returns the stored items.
func (s *Server) Items() []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for _, it := range s.items {
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Seen is every request line, header and JSON body the server received,
// for tests that look for what must not reach the provider.
func (s *Server) Seen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen.String()
}

// Sessions is how many upload sessions are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Server) record(r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.seen, "%s %s %s\n", r.Method, r.Host, r.URL.RequestURI())
	for k, v := range r.Header {
		fmt.Fprintf(&s.seen, "%s: %s\n", k, strings.Join(v, ", "))
	}
	s.seen.Write(body)
	s.seen.WriteString("\n")
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	switch host {
	case s.GraphHost:
		s.api(w, r)
	case s.UploadHost:
		s.record(r, nil)
		if r.Header.Get("Authorization") != "" {
			// The documentation: "Including the Authorization header when
			// issuing the PUT call may result in an HTTP 401".
			graphError(w, http.StatusUnauthorized, "unauthenticated", "upload and download URLs are pre-authenticated: send no Authorization header")
			return
		}
		s.storage(w, r)
	default:
		graphError(w, http.StatusMisdirectedRequest, "invalidRequest", "unknown host")
	}
}

// api serves the API host.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, 1<<20)); err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", "unreadable body")
			return
		}
	}
	s.record(r, body)
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty or invalid.")
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, "/v1.0")
	if !ok {
		graphError(w, http.StatusNotFound, "invalidRequest", "unknown API version")
		return
	}
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(p, ":/createUploadSession"):
		s.createSession(w, r, strings.TrimSuffix(p, ":/createUploadSession"), body)
	case r.Method == http.MethodPut && strings.HasSuffix(p, ":/content"):
		s.simpleUpload(w, r, strings.TrimSuffix(p, ":/content"))
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/children"):
		s.children(w, strings.TrimSuffix(p, "/children"))
	case r.Method == http.MethodGet || r.Method == http.MethodDelete:
		content := strings.HasSuffix(p, "/content")
		p = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(p, "/content"), ":"), ":")
		it := s.lookup(p)
		if it == nil {
			graphError(w, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
			return
		}
		switch {
		case r.Method == http.MethodDelete:
			s.mu.Lock()
			delete(s.items, it.ID)
			s.mu.Unlock()
			os.Remove(s.ItemPath(it.ID))
			w.WriteHeader(http.StatusNoContent)
		case content:
			http.Redirect(w, r, s.downloadURL(it.ID), http.StatusFound)
		default:
			writeJSON(w, http.StatusOK, s.driveItem(it))
		}
	default:
		graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "not supported by the emulator")
	}
}

// parentAndName splits an addressed path (/me/drive/root:/a/b.txt,
// /drives/D/items/P:/b.txt) into the folder and the file name.
func parentAndName(p string) (parent, name string, ok bool) {
	base, rel, ok := strings.Cut(p, ":/")
	if !ok {
		return "", "", false
	}
	if rel, err := url.PathUnescape(rel); err == nil && rel != "" {
		dir, file := filepath.Split(rel)
		switch {
		case strings.HasSuffix(base, "/root"):
			parent = "root"
		case strings.Contains(base, "/items/"):
			parent = "items/" + base[strings.LastIndex(base, "/")+1:]
		default:
			return "", "", false
		}
		if dir = strings.Trim(dir, "/"); dir != "" {
			parent += "/" + dir
		}
		return parent, file, file != ""
	}
	return "", "", false
}

// lookup finds the item a path addresses: /…/items/ID or /…/root:/path.
func (s *Server) lookup(p string) *Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Contains(p, ":/") {
		parent, name, ok := parentAndName(p)
		if !ok {
			return nil
		}
		for _, it := range s.items {
			if it.Parent == parent && it.Name == name {
				return it
			}
		}
		return nil
	}
	if i := strings.LastIndex(p, "/items/"); i >= 0 {
		return s.items[p[i+len("/items/"):]]
	}
	return nil
}

func (s *Server) existing(parent, name string) *Item {
	for _, it := range s.items {
		if it.Parent == parent && it.Name == name {
			return it
		}
	}
	return nil
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, p string, body []byte) {
	parent, name, ok := parentAndName(p)
	if !ok {
		graphError(w, http.StatusBadRequest, "invalidRequest", "createUploadSession needs a parent and a file name in the path")
		return
	}
	var req struct {
		Item struct {
			Conflict string `json:"@microsoft.graph.conflictBehavior"`
			Name     string `json:"name"`
			FileSize *int64 `json:"fileSize"`
		} `json:"item"`
		DeferCommit bool `json:"deferCommit"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", "the body is not valid JSON")
			return
		}
	}
	if req.DeferCommit {
		graphError(w, http.StatusNotImplemented, "notSupported", "deferCommit is not supported by the emulator")
		return
	}
	size := int64(-1)
	if fs := req.Item.FileSize; fs != nil {
		if *fs <= 0 {
			graphError(w, http.StatusBadRequest, "invalidRequest", "an upload session needs a file of at least one byte")
			return
		}
		size = *fs
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.existing(parent, name)
	if old != nil && req.Item.Conflict == "fail" {
		graphError(w, http.StatusConflict, "nameAlreadyExists", "The specified item name already exists.")
		return
	}
	if old != nil && req.Item.Conflict == "rename" {
		name = fmt.Sprintf("%s %d", name, len(s.items)+1)
		old = nil
	}
	ses := &session{id: randomID(), parent: parent, name: name, size: size, expires: time.Now().Add(24 * time.Hour).UTC()}
	if old != nil {
		ses.replace = old.ID
	}
	f, err := os.Create(filepath.Join(s.Dir, "sessions", ses.id))
	if err != nil {
		graphError(w, http.StatusInternalServerError, "generalException", err.Error())
		return
	}
	ses.file = f
	s.sessions[ses.id] = ses
	writeJSON(w, http.StatusOK, map[string]any{
		"uploadUrl":          "http://" + s.UploadHost + ":" + s.Port() + "/up/" + ses.id + "?sig=" + randomID(),
		"expirationDateTime": ses.expires.Format(time.RFC3339Nano),
		"nextExpectedRanges": []string{"0-"},
	})
}

// storage serves the upload and download host.
func (s *Server) storage(w http.ResponseWriter, r *http.Request) {
	if id, ok := strings.CutPrefix(r.URL.Path, "/download/"); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		f, err := os.Open(s.ItemPath(filepath.Base(id)))
		if err != nil {
			graphError(w, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, f)
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/up/")
	s.mu.Lock()
	ses := s.sessions[id]
	s.mu.Unlock()
	if !ok || ses == nil {
		graphError(w, http.StatusNotFound, "itemNotFound", "The upload session was not found.")
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, http.StatusOK, ses.status())
	case http.MethodDelete:
		s.mu.Lock()
		delete(s.sessions, id)
		s.mu.Unlock()
		ses.file.Close()
		os.Remove(ses.file.Name())
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		s.fragment(w, r, ses)
	default:
		graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "upload URLs take PUT, GET and DELETE")
	}
}

func (ses *session) status() map[string]any {
	next := strconv.FormatInt(ses.got, 10) + "-"
	if ses.size > 0 {
		next += strconv.FormatInt(ses.size-1, 10)
	}
	return map[string]any{"expirationDateTime": ses.expires.Format(time.RFC3339Nano), "nextExpectedRanges": []string{next}}
}

// fragment takes one PUT of an upload session. Fragments of one session
// are taken one at a time, as the service does.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request, ses *session) {
	first, last, total, err := parseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
		return
	}
	n := last - first + 1
	if r.ContentLength != n {
		graphError(w, http.StatusBadRequest, "invalidRequest", "Content-Length must equal the length of Content-Range")
		return
	}
	if n > MaxFragment {
		graphError(w, http.StatusRequestEntityTooLarge, "requestTooLarge", "a fragment may be at most 60 MiB")
		return
	}
	ses.busy.Lock()
	defer ses.busy.Unlock()
	s.mu.Lock()
	if s.sessions[ses.id] != ses {
		s.mu.Unlock()
		graphError(w, http.StatusNotFound, "itemNotFound", "The upload session was not found.")
		return
	}
	size, got := ses.size, ses.got
	s.mu.Unlock()
	switch {
	case size >= 0 && total != size:
		graphError(w, http.StatusBadRequest, "invalidRequest", "the Content-Range total is not the size of the file")
		return
	case last >= total:
		graphError(w, http.StatusBadRequest, "invalidRequest", "the fragment ends past the end of the file")
		return
	case first != got:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		json.NewEncoder(w).Encode(map[string]any{
			"error": map[string]any{"code": "invalidRange", "message": "The uploaded fragment overlaps or is out of order with data the server has received."},
		})
		return
	case last+1 < total && n%Granule != 0:
		graphError(w, http.StatusBadRequest, "invalidRequest", "a fragment that does not end the file must be a multiple of 320 KiB")
		return
	}
	// A fragment is taken whole or not at all: its bytes go to the file
	// past the received end and count only once all arrived.
	h := ses.hash
	if _, err := ses.file.Seek(first, io.SeekStart); err != nil {
		graphError(w, http.StatusInternalServerError, "generalException", err.Error())
		return
	}
	copied, err := io.Copy(io.MultiWriter(ses.file, &h), io.LimitReader(r.Body, n))
	if err != nil || copied != n {
		ses.file.Truncate(got)
		graphError(w, http.StatusBadRequest, "invalidRequest", "the fragment was cut short")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ses.id] != ses {
		graphError(w, http.StatusNotFound, "itemNotFound", "The upload session was deleted.")
		return
	}
	ses.size, ses.got, ses.hash = total, last+1, h
	ses.expires = time.Now().Add(24 * time.Hour).UTC()
	if ses.got < ses.size {
		writeJSON(w, http.StatusAccepted, ses.status())
		return
	}
	ses.file.Close()
	delete(s.sessions, ses.id)
	it := &Item{ID: ses.replace, Name: ses.name, Parent: ses.parent, Size: ses.size, QuickXor: ses.hash.Base64()}
	status := http.StatusOK
	if it.ID == "" {
		it.ID, status = randomID(), http.StatusCreated
	}
	if err := os.Rename(ses.file.Name(), s.ItemPath(it.ID)); err != nil {
		graphError(w, http.StatusInternalServerError, "generalException", err.Error())
		return
	}
	s.items[it.ID] = it
	writeJSON(w, status, s.driveItemLocked(it))
}

func (s *Server) simpleUpload(w http.ResponseWriter, r *http.Request, p string) {
	parent, name, ok := parentAndName(p)
	if !ok {
		graphError(w, http.StatusBadRequest, "invalidRequest", "a simple upload needs a parent and a file name in the path")
		return
	}
	if r.ContentLength > 250<<20 {
		graphError(w, http.StatusRequestEntityTooLarge, "requestTooLarge", "simple uploads take at most 250 MB")
		return
	}
	id := randomID()
	f, err := os.Create(s.ItemPath(id))
	if err != nil {
		graphError(w, http.StatusInternalServerError, "generalException", err.Error())
		return
	}
	var h QuickXorHash
	n, err := io.Copy(io.MultiWriter(f, &h), r.Body)
	f.Close()
	if err != nil {
		os.Remove(f.Name())
		graphError(w, http.StatusBadRequest, "invalidRequest", "the body was cut short")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	status := http.StatusCreated
	if old := s.existing(parent, name); old != nil {
		delete(s.items, old.ID)
		os.Remove(s.ItemPath(old.ID))
		status = http.StatusOK
	}
	it := &Item{ID: id, Name: name, Parent: parent, Size: n, QuickXor: h.Base64()}
	s.items[id] = it
	writeJSON(w, status, s.driveItemLocked(it))
}

func (s *Server) children(w http.ResponseWriter, p string) {
	parent := "root"
	if base, rel, ok := strings.Cut(strings.TrimSuffix(p, ":"), ":/"); ok && strings.HasSuffix(base, "/root") {
		rel, _ = url.PathUnescape(rel)
		parent = "root/" + strings.Trim(rel, "/")
	} else if i := strings.LastIndex(p, "/items/"); i >= 0 {
		parent = "items/" + p[i+len("/items/"):]
	} else if !strings.HasSuffix(p, "/root") {
		graphError(w, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	value := []any{}
	var ids []string
	for id, it := range s.items {
		if it.Parent == parent {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		value = append(value, s.driveItemLocked(s.items[id]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": value})
}

func (s *Server) downloadURL(id string) string {
	return "http://" + s.UploadHost + ":" + s.Port() + "/download/" + id + "?tempauth=" + randomID()
}

func (s *Server) driveItem(it *Item) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.driveItemLocked(it)
}

func (s *Server) driveItemLocked(it *Item) map[string]any {
	return map[string]any{
		"@odata.context":               s.APIBase() + "/$metadata#drives('emulated')/items/$entity",
		"@microsoft.graph.downloadUrl": s.downloadURL(it.ID),
		"id":                           it.ID,
		"name":                         it.Name,
		"size":                         it.Size,
		"eTag":                         `"{` + it.ID + `},1"`,
		"file":                         map[string]any{"mimeType": "application/octet-stream", "hashes": map[string]any{"quickXorHash": it.QuickXor}},
		"parentReference":              map[string]any{"driveId": "emulated", "path": "/drive/" + it.Parent},
	}
}

// parseContentRange parses "bytes a-b/total"; Graph wants the total.
func parseContentRange(h string) (first, last, total int64, err error) {
	spec, ok := strings.CutPrefix(h, "bytes ")
	rng, tot, ok2 := strings.Cut(spec, "/")
	a, b, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, 0, fmt.Errorf("a fragment needs Content-Range: bytes first-last/total")
	}
	first, e1 := strconv.ParseInt(a, 10, 64)
	last, e2 := strconv.ParseInt(b, 10, 64)
	total, e3 := strconv.ParseInt(tot, 10, 64)
	if e1 != nil || e2 != nil || e3 != nil || first < 0 || last < first || total <= 0 {
		return 0, 0, 0, fmt.Errorf("bad Content-Range")
	}
	return first, last, total, nil
}

func graphError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}
