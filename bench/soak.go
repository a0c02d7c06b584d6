package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// The soak scenario: a region's users on one gateway for minutes. Each
// connection is one user who sends a request, reads the answer, and
// thinks (an exponential pause, DefaultThinkTime on average) before the
// next; most of the time most connections are idle, as a region's are.
const (
	DefaultSoakDuration    = 5 * time.Minute
	DefaultSoakConnections = 1000
	DefaultThinkTime       = 5 * time.Second
	soakMaxObject          = 64 << 20
)

// Request kinds of the soak, in report order.
const (
	kindUpload          = "upload"
	kindDownload        = "download"
	kindForm            = "form"
	kindAPIEncrypt      = "api-encrypt"
	kindAPIPseudonymize = "api-pseudonymize"
)

var soakKinds = []string{kindUpload, kindDownload, kindForm, kindAPIEncrypt, kindAPIPseudonymize}

// Roles of the soak's users: which connection does what.
const (
	roleStorage = "storage" // uploads an object, downloads it back through the gateway, and so on
	roleForm    = "form"    // posts JSON and urlencoded case records with personnummer and names
	roleAPI     = "api"     // small /v1/encrypt and /v1/pseudonymize calls on the admin listener
)

// soakRole gives user w its role: one in twenty is an API client, one in
// four posts forms, the rest (seven in ten) store files. Interleaved, so
// that a ramp-up brings every role in at once.
func soakRole(w, users int) string {
	switch {
	case users >= 20 && w%20 == 0, users < 20 && users >= 3 && w == 2:
		return roleAPI
	case users >= 4 && w%4 == 1, users < 4 && users >= 2 && w == 1:
		return roleForm
	}
	return roleStorage
}

// soakSizes is the size distribution of uploaded objects: a class is
// drawn by weight, then a size log-uniformly within it, so most objects
// are office documents and a few are large scans or exports. The mean is
// 0.83 MiB (the sum of weight × (hi − lo) / ln(hi/lo)).
var soakSizes = []struct {
	lo, hi int64
	weight int
}{
	{1 << 10, 16 << 10, 50},
	{16 << 10, 256 << 10, 30},
	{256 << 10, 2 << 20, 14},
	{2 << 20, 16 << 20, 5},
	{16 << 20, 64 << 20, 1},
}

// soakSize draws an object size of at most max bytes.
func soakSize(r *rand.Rand, max int64) int64 {
	total := 0
	for _, c := range soakSizes {
		if c.lo < max {
			total += c.weight
		}
	}
	k := r.IntN(total)
	for _, c := range soakSizes {
		if c.lo >= max {
			continue
		}
		if k -= c.weight; k < 0 {
			hi := min(c.hi, max)
			return int64(math.Exp(math.Log(float64(c.lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(c.lo)))))
		}
	}
	return max
}

// soakObject is what a storage user put at the sink.
type soakObject struct {
	path     string
	size     int64
	digest   [32]byte
	verified bool // it came back intact through the gateway
}

// soakRecord is one finished request of the soak.
type soakRecord struct {
	kind    string
	done    time.Time
	latency time.Duration
	err     error
}

// soakError is a failed check with the kind it is counted under. Its
// message never quotes a body.
type soakError struct{ kind, msg string }

func (e *soakError) Error() string { return e.kind + ": " + e.msg }

func statusError(got, want int) error {
	return &soakError{fmt.Sprintf("status %d", got), fmt.Sprintf("want %d", want)}
}

// errorKind sorts an error into the few kinds the report counts.
func errorKind(err error) string {
	var se *soakError
	if errors.As(err, &se) {
		return se.kind
	}
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(msg, "connection reset"):
		return "connection reset"
	case strings.Contains(msg, "connection refused"):
		return "connection refused"
	case strings.Contains(msg, "proxyconnect"):
		return "proxy connect"
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:"):
		return "tls"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(msg, "EOF"):
		return "connection closed early"
	}
	return "other"
}

// soakUser is one connection of the soak.
type soakUser struct {
	id   int
	role string
	rng  *rand.Rand
	c    *http.Client
	base string // https://127.0.0.1:P (storage), https://localhost:P (form), http://ADMIN (API)

	pending *soakObject   // uploaded, not downloaded back yet
	objects []*soakObject // every upload that the sink acknowledged
	current *soakObject   // what the sink holds under this user's name now; nil if unknown
	formAt  string        // where this user's last stored form is, "" if none
	records []soakRecord
}

// soakLoad is the shared state of a soak's users.
type soakLoad struct {
	data     []byte // objects are slices of it at random offsets
	forms    []formBody
	maxSize  int64
	think    time.Duration
	moved    *atomic.Int64
	requests atomic.Int64
	errors   atomic.Int64
	inFlight atomic.Int64
}

// pause waits d; false if the soak is stopping.
func (l *soakLoad) pause(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// thinkTime draws a user's pause: exponential with mean l.think, at most
// ten means.
func (l *soakLoad) thinkTime(r *rand.Rand) time.Duration {
	return time.Duration(min(r.ExpFloat64(), 10) * float64(l.think))
}

// run is one user's loop: a first request at start (spread over the
// ramp-up), then request, think, request, until stop closes. A request in
// flight when stop closes is finished; one cut by ctx is not recorded.
func (u *soakUser) run(ctx context.Context, l *soakLoad, stop <-chan struct{}, ramp time.Duration) {
	defer u.c.CloseIdleConnections()
	if !l.pause(ctx, stop, time.Duration(u.rng.Int64N(int64(ramp)+1))) {
		return
	}
	for {
		err := u.step(ctx, l)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.errors.Add(1)
		} else {
			l.requests.Add(1)
		}
		if !l.pause(ctx, stop, l.thinkTime(u.rng)) {
			return
		}
	}
}

// step sends one request of the user's role and checks the answer.
func (u *soakUser) step(ctx context.Context, l *soakLoad) error {
	var kind string
	var req *http.Request
	var check func(resp *http.Response) error
	var err error
	switch u.role {
	case roleStorage:
		kind, req, check, err = u.storageRequest(l)
	case roleForm:
		kind, req, check, err = u.formRequest(l)
	default:
		kind, req, check, err = u.apiRequest(l)
	}
	start := time.Now()
	if err == nil {
		l.inFlight.Add(1)
		err = u.do(ctx, l, req, check)
		l.inFlight.Add(-1)
	}
	if ctx.Err() != nil {
		return nil
	}
	now := time.Now()
	u.records = append(u.records, soakRecord{kind: kind, done: now, latency: now.Sub(start), err: err})
	return err
}

// do sends req, hands the response to check, and reads what check left.
func (u *soakUser) do(ctx context.Context, l *soakLoad, req *http.Request, check func(*http.Response) error) error {
	req = req.WithContext(ctx)
	if req.Body != nil {
		req.Body = countingReader{req.Body, l.moved}
	}
	resp, err := u.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	resp.Body = countingReader{resp.Body, l.moved}
	err = check(resp)
	if _, cerr := io.Copy(io.Discard, resp.Body); err == nil && cerr != nil {
		err = fmt.Errorf("reading response: %w", cerr)
	}
	return err
}

// storageRequest alternates an upload of a new object under the user's
// name and a download of it, through the gateway, compared by digest.
func (u *soakUser) storageRequest(l *soakLoad) (string, *http.Request, func(*http.Response) error, error) {
	path := fmt.Sprintf("/store/soak/u%04d", u.id)
	if o := u.pending; o != nil {
		u.pending = nil
		req, err := http.NewRequest(http.MethodGet, u.base+path, nil)
		return kindDownload, req, func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return statusError(resp.StatusCode, http.StatusOK)
			}
			if err := checkDigest(resp.Body, o); err != nil {
				return err
			}
			o.verified = true
			return nil
		}, err
	}
	size := soakSize(u.rng, l.maxSize)
	off := u.rng.Int64N(int64(len(l.data)) - size + 1)
	body := l.data[off : off+size]
	o := &soakObject{path: path, size: size, digest: sha256.Sum256(body)}
	req, err := http.NewRequest(http.MethodPut, u.base+path, bytes.NewReader(body))
	if err != nil {
		return kindUpload, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	u.current = nil // unknown until the sink says it stored it
	return kindUpload, req, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusCreated {
			return statusError(resp.StatusCode, http.StatusCreated)
		}
		u.pending, u.current = o, o
		u.objects = append(u.objects, o)
		return nil
	}, nil
}

// checkDigest reads r whole and compares it with o.
func checkDigest(r io.Reader, o *soakObject) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return fmt.Errorf("reading response: %w", err)
	}
	if n != o.size {
		return &soakError{"size mismatch", fmt.Sprintf("%s: got %d bytes, uploaded %d", o.path, n, o.size)}
	}
	if !bytes.Equal(h.Sum(nil), o.digest[:]) {
		return &soakError{"digest mismatch", fmt.Sprintf("%s: %d bytes differ from what was uploaded", o.path, n)}
	}
	return nil
}

// formRequest posts a case record to the sink's echo route, which sends
// it back: the gateway pseudonymizes it on the way up and re-identifies it
// on the way down, so the user must get exactly what it sent. One post in
// ten is kept at the sink instead, to check afterwards that what the
// provider holds has no identifiers.
func (u *soakUser) formRequest(l *soakLoad) (string, *http.Request, func(*http.Response) error, error) {
	b := l.forms[u.rng.IntN(len(l.forms))]
	if u.rng.IntN(10) == 0 {
		path := fmt.Sprintf("/store/soak-form/u%04d", u.id)
		req, err := http.NewRequest(http.MethodPost, u.base+path, bytes.NewReader(b.body))
		if err == nil {
			req.Header.Set("Content-Type", b.contentType)
		}
		return kindForm, req, func(resp *http.Response) error {
			if resp.StatusCode != http.StatusCreated {
				return statusError(resp.StatusCode, http.StatusCreated)
			}
			u.formAt = path
			return nil
		}, err
	}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/echo/soak/u%04d", u.base, u.id), bytes.NewReader(b.body))
	if err == nil {
		req.Header.Set("Content-Type", b.contentType)
	}
	return kindForm, req, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return statusError(resp.StatusCode, http.StatusOK)
		}
		got, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return fmt.Errorf("reading response: %w", err)
		}
		if !bytes.Equal(got, b.body) {
			return &soakError{"form round trip", fmt.Sprintf("the echoed %s record (%d bytes) came back as %d different bytes", b.contentType, len(b.body), len(got))}
		}
		return nil
	}, nil
}

// apiRequest calls /v1/encrypt with 1–16 KiB or /v1/pseudonymize with a
// JSON case record, half and half.
func (u *soakUser) apiRequest(l *soakLoad) (string, *http.Request, func(*http.Response) error, error) {
	if u.rng.IntN(2) == 0 {
		size := soakSize(u.rng, 16<<10)
		off := u.rng.Int64N(int64(len(l.data)) - size + 1)
		req, err := http.NewRequest(http.MethodPost, u.base+"/v1/encrypt", bytes.NewReader(l.data[off:off+size]))
		if err == nil {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		return kindAPIEncrypt, req, func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return statusError(resp.StatusCode, http.StatusOK)
			}
			head := make([]byte, len(ageMagic))
			if _, err := io.ReadFull(resp.Body, head); err != nil || string(head) != ageMagic {
				return &soakError{"not encrypted", "/v1/encrypt did not answer with an age file"}
			}
			return nil
		}, err
	}
	var bodies []formBody
	for _, b := range l.forms {
		if b.contentType == "application/json" {
			bodies = append(bodies, b)
		}
	}
	b := bodies[u.rng.IntN(len(bodies))]
	req, err := http.NewRequest(http.MethodPost, u.base+"/v1/pseudonymize", bytes.NewReader(b.body))
	if err == nil {
		req.Header.Set("Content-Type", b.contentType)
	}
	return kindAPIPseudonymize, req, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return statusError(resp.StatusCode, http.StatusOK)
		}
		got, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return fmt.Errorf("reading response: %w", err)
		}
		if n := identifiersIn(got); n > 0 {
			return &soakError{"identifiers left", fmt.Sprintf("/v1/pseudonymize left %d identifiers in a record", n)}
		}
		return nil
	}, nil
}

// personnummerPattern finds what looks like a personnummer or
// samordningsnummer, with or without the century.
var personnummerPattern = regexp.MustCompile(`\b(\d{2})?\d{6}[-+]\d{4}\b`)

// identifiersIn counts the personnummer and surnames of the generated
// forms that appear in b.
func identifiersIn(b []byte) int {
	n := len(personnummerPattern.FindAllIndex(b, -1))
	for _, s := range append(slices.Clone(surnames), "Tolvansson") {
		n += bytes.Count(b, []byte(s))
	}
	return n
}

// soakUsers makes the soak's users, each with its own keep-alive client:
// storage users through the gateway to the sink as 127.0.0.1 (the storage
// profile), form users to it as localhost (the form profile), API users to
// the admin listener.
func soakUsers(n int, proxied, api *target, storageBase, formBase string, seed uint64) []*soakUser {
	users := make([]*soakUser, n)
	for w := range users {
		u := &soakUser{id: w, role: soakRole(w, n), rng: rand.New(rand.NewPCG(seed, uint64(w)))}
		switch u.role {
		case roleStorage:
			u.base, u.c = storageBase, proxied.newClient()
		case roleForm:
			u.base, u.c = formBase, proxied.newClient()
		default:
			u.base, u.c = api.apiBase, api.newClient()
		}
		users[w] = u
	}
	return users
}

// kindFigures summarizes the records of one kind that finished in
// [from, to).
func kindFigures(kind string, users []*soakUser, from, to time.Time) SoakKind {
	k := SoakKind{Kind: kind}
	var lat []time.Duration
	for _, u := range users {
		for _, r := range u.records {
			if r.kind != kind || r.done.Before(from) || !r.done.Before(to) {
				continue
			}
			if r.err != nil {
				k.Errors++
				continue
			}
			k.Requests++
			lat = append(lat, r.latency)
		}
	}
	if secs := to.Sub(from).Seconds(); secs > 0 {
		k.ReqPerSec = float64(k.Requests) / secs
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		k.P50Ms, k.P99Ms, k.P999Ms, k.MaxMs = percentile(lat, 50), percentile(lat, 99), percentile(lat, 99.9), percentile(lat, 100)
	}
	return k
}
