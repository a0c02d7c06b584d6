package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Scenario names, in the order the report lists them.
const (
	ScenarioUpload          = "upload"           // large PUTs: the encrypt path
	ScenarioDownload        = "download"         // large GETs of stored objects: the decrypt path
	ScenarioForm            = "form"             // JSON and form POSTs with personnummer and names: pseudonymize and re-identify
	ScenarioSmall           = "small"            // 1 KiB POSTs, many clients: requests/s
	ScenarioLatency         = "latency"          // 1 KiB POSTs, one client: added latency
	ScenarioAPIEncrypt      = "api-encrypt"      // POST /v1/encrypt on the admin listener
	ScenarioAPIPseudonymize = "api-pseudonymize" // POST /v1/pseudonymize on the admin listener
	ScenarioSoak            = "soak"             // 1 000 users on one gateway for minutes: does it hold?
)

// Scenario describes one kind of request.
type Scenario struct {
	Name        string
	Title       string // for tables and charts
	Concurrency int    // workers, unless overridden
	Size        int64  // body size, unless overridden; 0 if fixed by the scenario
	API         bool   // goes to the gateway's admin listener, not through a proxy
	// Explicit scenarios run only when named (--scenario soak): they take
	// minutes and are measured their own way (measureSoak).
	Explicit bool

	// profile is the gateway profile of the full policy for this
	// scenario's traffic (issues 5 and 6).
	profile string
	// prepare runs once per mode before warm-up (e.g. stores the objects to
	// download through that mode).
	prepare func(ctx context.Context, s *Scenario, t *target, size int64) (note string, err error)
	request func(s *Scenario, size int64) requestFunc
}

// Scenarios returns every scenario, in report order.
func Scenarios() []*Scenario {
	return []*Scenario{
		{Name: ScenarioUpload, Title: "8 MiB uploads (encrypt)", Concurrency: 16, Size: 8 << 20, profile: "storage", request: uploadRequests},
		{Name: ScenarioDownload, Title: "8 MiB downloads (decrypt)", Concurrency: 16, Size: 8 << 20, profile: "storage", prepare: storeDownloads, request: downloadRequests},
		{Name: ScenarioForm, Title: "JSON/form posts with personnummer (pseudonymize)", Concurrency: 16, profile: "form", prepare: checkPseudonymized, request: formRequests},
		{Name: ScenarioSmall, Title: "1 KiB posts, many clients", Concurrency: 16, Size: 1 << 10, profile: "storage", request: smallRequests},
		{Name: ScenarioLatency, Title: "1 KiB posts, one client (added latency)", Concurrency: 1, Size: 1 << 10, profile: "storage", request: smallRequests},
		{Name: ScenarioAPIEncrypt, Title: "API /v1/encrypt", Concurrency: 4, Size: 1 << 20, API: true, prepare: probeAPI, request: apiEncryptRequests},
		{Name: ScenarioAPIPseudonymize, Title: "API /v1/pseudonymize", Concurrency: 4, API: true, prepare: probeAPI, request: apiPseudonymizeRequests},
		{Name: ScenarioS3, Title: "S3 multipart: 64 MiB objects in 8 MiB parts, 4 in flight, minio-go to versitygw", Concurrency: s3InFlight, Size: s3ObjectSize, Explicit: true},
		{Name: ScenarioNextcloud, Title: "Nextcloud chunked upload: 100 MiB files in 10 MiB chunks, 4 in flight, to the test Nextcloud", Concurrency: ncInFlight, Size: ncFileSize, Explicit: true},
		{Name: ScenarioTus, Title: "tus: 100 MiB uploads in 5 MiB PATCHes, 4 at once, to tusd", Concurrency: tusInFlight, Size: tusFileSize, Explicit: true},
		{Name: ScenarioGraph, Title: "Graph upload sessions: 100 MiB files in 10 MiB fragments, then /content downloads, to the Graph emulator", Concurrency: 1, Size: graphFileSize, Explicit: true},
		{Name: ScenarioShared, Title: "Three gateways behind HAProxy: form posts and re-identification, bbolt vs PostgreSQL", Concurrency: 16, Explicit: true},
		{Name: ScenarioSoak, Title: "Soak: many mostly idle users on one gateway (uploads, downloads, forms, API calls)", Concurrency: DefaultSoakConnections, Size: soakMaxObject, Explicit: true},
	}
}

// payload returns size pseudo-random bytes, the same for the same size, so
// request bodies cost the client nothing to produce and never compress.
func payload(size int64) []byte {
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{'s', 'l', 'u', 's', 's'}).Read(b)
	return b
}

func uploadRequests(s *Scenario, size int64) requestFunc {
	body := payload(size)
	return func(t *target, w, seq int) (*http.Request, func(int, int64) error, error) {
		req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/sink/up/%d-%d.bin", t.sinkBase, w, seq), bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		return req, nil, nil
	}
}

// downloadObjects is how many objects each mode stores for the download
// scenario; workers cycle through them.
const downloadObjects = 4

func downloadPath(t *target, k int) string {
	return fmt.Sprintf("/store/down/%s-%d.bin", t.mode, k)
}

// storeDownloads uploads the objects through the mode itself, so that
// through the full gateway the sink holds ciphertext and the downloads
// take the decrypt path. It reports whether the sink got an age file.
func storeDownloads(ctx context.Context, s *Scenario, t *target, size int64) (string, error) {
	body := payload(size)
	c := t.newClient()
	defer c.CloseIdleConnections()
	for k := range downloadObjects {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, t.sinkBase+downloadPath(t, k), bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := c.Do(req)
		if err != nil {
			return "", fmt.Errorf("failed to store the objects to download: %w", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return "", fmt.Errorf("failed to store the objects to download: status %d", resp.StatusCode)
		}
	}
	// Look at what the sink holds: through the full gateway it must be an
	// age file, or this would not measure the decrypt path at all.
	sinkOnly := &target{roots: t.sinkRoots}
	dc := sinkOnly.newClient()
	defer dc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.sinkBase+downloadPath(t, 0), nil)
	if err != nil {
		return "", err
	}
	resp, err := dc.Do(req)
	if err != nil {
		return "", fmt.Errorf("failed to read back a stored object from the sink: %w", err)
	}
	head := make([]byte, len(ageMagic))
	_, err = io.ReadFull(resp.Body, head)
	resp.Body.Close()
	encrypted := err == nil && string(head) == ageMagic
	switch {
	case t.mode == ModeFull && !encrypted:
		return "", fmt.Errorf("the sink received plaintext through %s: the storage profile did not encrypt, so this would not measure decryption", t.mode)
	case encrypted:
		return "the sink holds age files: downloads take the decrypt path", nil
	}
	return "", nil
}

// ageMagic starts every age v1 file.
const ageMagic = "age-encryption.org/v1"

func downloadRequests(s *Scenario, size int64) requestFunc {
	return func(t *target, w, seq int) (*http.Request, func(int, int64) error, error) {
		req, err := http.NewRequest(http.MethodGet, t.sinkBase+downloadPath(t, (w+seq)%downloadObjects), nil)
		check := func(status int, got int64) error {
			if status != http.StatusOK {
				return fmt.Errorf("status %d", status)
			}
			if got != size {
				return fmt.Errorf("got %d bytes, want the %d of the plaintext", got, size)
			}
			return nil
		}
		return req, check, err
	}
}

func smallRequests(s *Scenario, size int64) requestFunc {
	body := payload(size)
	return func(t *target, w, seq int) (*http.Request, func(int, int64) error, error) {
		req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/sink/small/%d", t.sinkBase, w), bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		return req, nil, nil
	}
}

// formRequests alternates a JSON case record and a urlencoded form, each
// with five identifiers (personnummer, samordningsnummer, names), posted to
// the sink's echo route so the response comes back through re-identification.
func formRequests(s *Scenario, size int64) requestFunc {
	bodies := formBodies(size)
	return func(t *target, w, seq int) (*http.Request, func(int, int64) error, error) {
		b := bodies[(w+seq)%len(bodies)]
		req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/echo/arende/%d", t.sinkBase, w), bytes.NewReader(b.body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", b.contentType)
		return req, nil, nil
	}
}

type formBody struct {
	contentType string
	body        []byte
}

// People in the generated forms: Skatteverket's test person and generated
// numbers with valid check digits, with common Swedish names.
var (
	givenNames = []string{"Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Anders", "Sara", "Mikael"}
	surnames   = []string{"Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson", "Gustafsson"}
)

// personnummer returns a valid-looking YYYYMMDD-NNNC (NNN from 001) with
// a Luhn check digit; samordning adds 60 to the day.
func personnummer(r *rand.Rand, samordning bool) string {
	y, m, d := 1940+r.IntN(70), 1+r.IntN(12), 1+r.IntN(28)
	if samordning {
		d += 60
	}
	n := 1 + r.IntN(999) // birth number 000 is never issued: not a personnummer
	digits := fmt.Sprintf("%02d%02d%02d%03d", y%100, m, d, n)
	sum := 0
	for i, c := range digits {
		v := int(c - '0')
		if i%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return fmt.Sprintf("%04d%02d%02d-%03d%d", y, m, d, n, (10-sum%10)%10)
}

// formBodySize is the default size of the form scenario's bodies.
const formBodySize = 2 << 10

// formBodies returns a few JSON and form bodies of about size bytes
// (2 KiB when size is 0), each with five identifiers: two names, two
// personnummer and a samordningsnummer; the rest is free text without any.
func formBodies(size int64) []formBody {
	if size <= 0 {
		size = formBodySize
	}
	r := rand.New(rand.NewPCG(7, 11))
	name := func() string { return givenNames[r.IntN(len(givenNames))] + " " + surnames[r.IntN(len(surnames))] }
	filler := strings.Repeat("Ärendet gäller hemtjänst och har bedömts enligt gällande riktlinjer. ", int(size)/70+2)
	var out []formBody
	for i := range 8 {
		applicant, contact := name(), name()
		pnr, pnr2, snr := personnummer(r, false), personnummer(r, false), personnummer(r, true)
		if i == 0 {
			applicant, pnr = "Tolvan Tolvansson", "19121212-1212"
		}
		note := "Sökande har kontaktat handläggaren om ansökan; tolk behövs vid nästa besök. "
		if i%2 == 0 {
			j := fmt.Sprintf(`{"arende":"2026-%04d","sokande":{"namn":%q,"personnummer":%q},"kontaktperson":{"namn":%q,"personnummer":%q},"tolk_samordningsnummer":%q,"anteckning":%q}`,
				r.IntN(10000), applicant, pnr, contact, pnr2, snr, note)
			if pad := int(size) - len(j) - len(`,"bakgrund":""`); pad > 0 {
				j = j[:len(j)-1] + fmt.Sprintf(`,"bakgrund":%q}`, padText(filler, pad))
			}
			out = append(out, formBody{"application/json", []byte(j)})
			continue
		}
		v := url.Values{}
		v.Set("namn", applicant)
		v.Set("personnummer", pnr)
		v.Set("kontaktperson", contact)
		v.Set("kontakt_personnummer", pnr2)
		v.Set("tolk", snr)
		v.Set("meddelande", note)
		pad := int(size) - len(v.Encode()) - len("&bakgrund=")
		for k := 0; k < 64 && pad > 0; k++ {
			// Escaping makes the text longer than it is: grow it until
			// the encoded form has the size.
			v.Set("bakgrund", padText(filler, len(v.Get("bakgrund"))+max(pad*3/4, 1)))
			pad = int(size) - len(v.Encode())
		}
		out = append(out, formBody{"application/x-www-form-urlencoded", []byte(v.Encode())})
	}
	return out
}

// padText returns the first n bytes of s, cut at a character boundary.
func padText(s string, n int) string {
	n = min(n, len(s))
	for n > 0 && !utf8.RuneStart(s[n]) && n < len(s) {
		n--
	}
	return s[:n]
}

// checkPseudonymized posts one form body through the mode to the sink's
// store and looks at what arrived: through the full gateway the
// personnummer must not, or this would not measure pseudonymization.
func checkPseudonymized(ctx context.Context, s *Scenario, t *target, size int64) (string, error) {
	b := formBodies(size)[0]
	c := t.newClient()
	defer c.CloseIdleConnections()
	path := "/store/form-check/" + t.mode
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.sinkBase+path, bytes.NewReader(b.body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", b.contentType)
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("posting a form: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("posting a form: status %d", resp.StatusCode)
	}
	sinkOnly := &target{roots: t.sinkRoots}
	dc := sinkOnly.newClient()
	defer dc.CloseIdleConnections()
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, t.sinkBase+path, nil)
	if err != nil {
		return "", err
	}
	resp, err = dc.Do(req)
	if err != nil {
		return "", fmt.Errorf("reading back the form from the sink: %w", err)
	}
	stored, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	leaked := bytes.Contains(stored, []byte("19121212-1212")) || bytes.Contains(stored, []byte("Tolvansson"))
	switch {
	case t.mode == ModeFull && leaked:
		return "", fmt.Errorf("the sink received the personnummer and name in clear through %s: the form profile did not pseudonymize, so this would not measure it", t.mode)
	case !leaked:
		return "the sink receives tokens, not the identifiers: posts take the pseudonymize path", nil
	}
	return "", nil
}

// probeAPI checks that the admin listener has the scenario's route before
// measuring it: the API arrives with issue 6.
func probeAPI(ctx context.Context, s *Scenario, t *target, size int64) (string, error) {
	if t.apiBase == "" {
		return "", errNotAvailable{"no admin listener to call"}
	}
	build := s.request(s, min(size, 1024))
	req, check, err := build(t, 0, 0)
	if err != nil {
		return "", err
	}
	c := t.newClient()
	defer c.CloseIdleConnections()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("calling the API: %w", err)
	}
	got, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		return "", errNotAvailable{fmt.Sprintf("%s answers %d: this sluss has no such API route yet", req.URL.Path, resp.StatusCode)}
	}
	if check != nil {
		if err := check(resp.StatusCode, got); err != nil {
			return "", fmt.Errorf("API probe: %w", err)
		}
	} else if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("API probe: status %d", resp.StatusCode)
	}
	return "", nil
}

func apiEncryptRequests(s *Scenario, size int64) requestFunc {
	body := payload(size)
	return func(t *target, w, seq int) (*http.Request, func(int, int64) error, error) {
		req, err := http.NewRequest(http.MethodPost, t.apiBase+"/v1/encrypt", bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		check := func(status int, got int64) error {
			if status != http.StatusOK {
				return fmt.Errorf("status %d", status)
			}
			if got <= size {
				return fmt.Errorf("ciphertext of %d bytes for %d of plaintext", got, size)
			}
			return nil
		}
		return req, check, nil
	}
}

func apiPseudonymizeRequests(s *Scenario, size int64) requestFunc {
	var bodies []formBody
	for _, b := range formBodies(size) {
		if b.contentType == "application/json" {
			bodies = append(bodies, b)
		}
	}
	return func(t *target, w, seq int) (*http.Request, func(int, int64) error, error) {
		b := bodies[(w+seq)%len(bodies)]
		req, err := http.NewRequest(http.MethodPost, t.apiBase+"/v1/pseudonymize", bytes.NewReader(b.body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", b.contentType)
		return req, nil, nil
	}
}

// errNotAvailable marks a cell that cannot be measured with this gateway
// (a missing profile or route): reported, not an error of the bench.
type errNotAvailable struct{ why string }

func (e errNotAvailable) Error() string { return e.why }
