package pseudonym

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Format is the content type a transformer understands.
type Format string

// Formats, as accepted by ParseFormat (the CLI's --format values).
const (
	FormatAuto Format = "auto" // sniff: JSON, form, CSV or text
	FormatText Format = "text"
	FormatJSON Format = "json"
	FormatCSV  Format = "csv"
	FormatForm Format = "form" // application/x-www-form-urlencoded
	FormatHTML Format = "html" // re-identification only; pseudonymized as text
)

// ParseFormat parses a --format flag value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatAuto, FormatText, FormatJSON, FormatCSV, FormatForm, FormatHTML:
		return f, nil
	case "":
		return FormatAuto, nil
	}
	return "", fmt.Errorf("pseudonym: unknown format %q (want auto, text, json, csv, form or html)", s)
}

// FormatFromContentType maps a Content-Type header to a Format. It returns
// ok = false for types the transformers do not handle (binary, multipart),
// which the caller must encrypt, block or pass by policy.
func FormatFromContentType(contentType string) (f Format, ok bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return FormatJSON, true
	case mt == "text/csv" || mt == "application/csv":
		return FormatCSV, true
	case mt == "application/x-www-form-urlencoded":
		return FormatForm, true
	case mt == "text/html" || mt == "application/xhtml+xml":
		return FormatHTML, true
	case strings.HasPrefix(mt, "text/"):
		return FormatText, true
	}
	return "", false
}

// DefaultNameFields are the field names (JSON keys, form fields, CSV
// headers) whose whole value is a name. Matching ignores case.
var DefaultNameFields = []string{
	"namn", "fornamn", "förnamn", "efternamn", "name", "firstName", "lastName",
	"fullName", "patientnamn", "kontaktperson", "handlaggare", "handläggare",
	"first_name", "last_name", "full_name", "given_name", "family_name",
	"givenName", "familyName", "surname", "tilltalsnamn", "mellannamn",
	"vardnadshavare", "vårdnadshavare", "elevnamn", "anhorig", "anhörig",
	// The offices of an association's or a board's record, and a ward's
	// representatives: the value is the person who holds them (an
	// organisation or "vakant" there is kept, see notPerson).
	"ordforande", "ordförande", "vice_ordforande", "kassor", "kassör", "sekreterare",
	"godman", "god_man", "forvaltare", "förvaltare",
	// A child's record: the parents and the child by their roles.
	"forelder", "förälder", "foralder", "mamma", "pappa", "barnets namn", "barnets_namn",
	"fullständigt namn", "fullstandigt_namn", "deltagare", "deltagarnamn", "medlemsnamn",
}

// personPartFields are the last parts of a field name, after an
// underscore, a hyphen or a dot, that make it a person's name field with
// the default fields ("sokande_fornamn", "kontakt.efternamn"): never a
// place's or a thing's, unlike "namn" ("skola_namn").
var personPartFields = map[string]bool{
	"fornamn": true, "förnamn": true, "efternamn": true, "tilltalsnamn": true, "mellannamn": true,
	"firstname": true, "lastname": true, "surname": true, "givenname": true, "familyname": true,
}

// officeFields are the name fields (lower case) that hold a person also
// in an organisation's record ("typ": "förening"): its officers and
// contact, not its name.
var officeFields = map[string]bool{
	"ordforande": true, "ordförande": true, "vice_ordforande": true, "kassor": true, "kassör": true,
	"sekreterare": true, "kontaktperson": true,
}

// Config sets up a Pseudonymizer. The zero value is usable: default name
// fields, names detected, the wall clock, no logging.
type Config struct {
	// NameFields replaces DefaultNameFields when not nil.
	NameFields []string
	// SkipNames turns the free-text name detector off (personnummer and
	// configured name fields are still replaced).
	SkipNames bool
	// Now is the clock that decides the century of YYMMDD personnummer.
	Now func() time.Time
	// Logger receives debug events: counts and sizes, never values.
	Logger *zerolog.Logger
	// CSVComma is the CSV field separator; 0 sniffs ',' or ';' from the
	// header line.
	CSVComma byte
	// Explain, when set, is called for every value a transform replaces,
	// with where it stands in the input and the rule that fired (see
	// Decision). It is for showing a person why, as sluss pseudonymize
	// --explain does; its offsets point at personal data, so never log
	// them. Calls come from the transforming goroutine, in input order.
	Explain func(Decision)
}

// Pseudonymizer replaces personnummer and names with tokens and back. It is
// safe for concurrent use; every call works on its own stream state.
type Pseudonymizer struct {
	cfg         Config
	detectNames bool
	keys        KeySource
	store       Store
	lx          *lexicon
	fields      map[string]bool
	log         zerolog.Logger
	// numberSpace, when not zero, shrinks the numeric-token space so that
	// tests can force collisions.
	numberSpace uint64
	// buffers recycles the chunk buffers of finished streams: ~340 KiB
	// per stream, whose allocation and zeroing would otherwise cost more
	// than transforming a small body.
	buffers sync.Pool
}

// streamBuffers are the chunk buffers of one Transform.
type streamBuffers struct {
	r       *bufio.Reader
	w       *bufio.Writer
	text    []byte // transformText's window
	textOut []byte // transformText's output chunk
}

// getBuffers returns chunk buffers reading r and writing w.
func (p *Pseudonymizer) getBuffers(r io.Reader, w io.Writer) *streamBuffers {
	sb, _ := p.buffers.Get().(*streamBuffers)
	if sb == nil {
		// Not bufio.NewReaderSize(r, …): it returns r itself when r is a
		// large enough *bufio.Reader, which must not end up in the pool.
		sb = &streamBuffers{r: bufio.NewReaderSize(nil, chunkSize), w: bufio.NewWriterSize(nil, chunkSize)}
	}
	sb.r.Reset(r)
	sb.w.Reset(w)
	return sb
}

// putBuffers returns sb to the pool, dropping the caller's reader and
// writer.
func (p *Pseudonymizer) putBuffers(sb *streamBuffers) {
	sb.r.Reset(nil)
	sb.w.Reset(nil)
	p.buffers.Put(sb)
}

// New returns a Pseudonymizer that takes HMAC keys from keys and keeps the
// way back in store.
func New(cfg Config, keys KeySource, store Store) (*Pseudonymizer, error) {
	if keys == nil || store == nil {
		return nil, errors.New("pseudonym: New needs a KeySource and a Store")
	}
	lx, err := loadLexicon()
	if err != nil {
		return nil, fmt.Errorf("pseudonym: failed to load lexicons: %w", err)
	}
	p := &Pseudonymizer{cfg: cfg, detectNames: !cfg.SkipNames, keys: keys, store: store, lx: lx, fields: map[string]bool{}, log: zerolog.Nop()}
	if cfg.Logger != nil {
		p.log = *cfg.Logger
	}
	fields := cfg.NameFields
	if fields == nil {
		fields = DefaultNameFields
	}
	for _, f := range fields {
		p.fields[strings.ToLower(strings.TrimSpace(f))] = true
	}
	// Fail early, not on the first request, if a key is missing.
	if _, err := p.newSession(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Pseudonymizer) now() time.Time {
	if p.cfg.Now != nil {
		return p.cfg.Now()
	}
	return time.Now()
}

// isNameField reports whether name (a JSON key, form field or CSV header)
// is one of the name fields, ignoring case and a number at its end
// ("vardnadshavare1", "Vårdnadshavare 2", "namn_1"): the second of the same.
func (p *Pseudonymizer) isNameField(name []byte) bool {
	if p.isNameFieldExact(name) {
		return true
	}
	if k := bytes.LastIndexAny(name, "_-."); k > 0 && k+1 < len(name) && len(p.fields) > 0 && p.cfg.NameFields == nil {
		// "sokande_fornamn", "vardnadshavare.efternamn": a person's given
		// name or surname under a role's prefix.
		var buf [32]byte
		if last := name[k+1:]; len(last) <= len(buf) && personPartFields[string(appendLower(buf[:0], last))] {
			return true
		}
	}
	n := len(name)
	for n > 0 && isDigit(name[n-1]) {
		n--
	}
	if n == len(name) || n > 0 && n < len(name)-2 {
		return false // no number, or one of more than two digits
	}
	for n > 0 && (name[n-1] == ' ' || name[n-1] == '_' || name[n-1] == '-') {
		n--
	}
	return n > 0 && p.isNameFieldExact(name[:n])
}

func (p *Pseudonymizer) isNameFieldExact(name []byte) bool {
	if len(p.fields) == 0 {
		return false
	}
	var buf [64]byte
	if len(name) <= len(buf) {
		ascii := true
		for _, c := range name {
			if c >= 0x80 {
				ascii = false
				break
			}
		}
		if ascii {
			return p.fields[string(appendLower(buf[:0], name))] // no allocation: every JSON key passes here
		}
	}
	return p.fields[strings.ToLower(string(name))]
}

// Transform pseudonymizes r into w in the given format. FormatAuto sniffs
// the first bytes. Invalid input for the format is an error with its line
// and offset, and what was written to w before it must be discarded.
func (p *Pseudonymizer) Transform(ctx context.Context, f Format, r io.Reader, w io.Writer) (_ Counts, err error) {
	s, err := p.newSession()
	if err != nil {
		return Counts{}, err
	}
	// Mappings are stored before any output carrying their tokens leaves.
	sb := p.getBuffers(r, &storeFirstWriter{ctx: ctx, s: s, w: w})
	panicked := true
	defer func() {
		if !panicked { // buffers a panic left half-written are dropped
			p.putBuffers(sb)
		}
	}()
	defer func() {
		if recover() != nil {
			err = p.internalError("pseudonymize")
			return
		}
		panicked = false
	}()
	br, bw := sb.r, sb.w
	s.textBuf, s.textOut = sb.text, sb.textOut
	defer func() { sb.text, sb.textOut = s.textBuf, s.textOut }()
	if f == FormatAuto {
		f = sniff(br)
	}
	switch f {
	case FormatText, FormatHTML:
		err = s.transformText(ctx, br, bw)
	case FormatJSON:
		err = s.transformJSON(ctx, br, bw)
	case FormatCSV:
		err = s.transformCSV(ctx, br, bw)
	case FormatForm:
		err = s.transformForm(ctx, br, bw)
	default:
		err = fmt.Errorf("pseudonym: unknown format %q", f)
	}
	if err == nil {
		err = s.flush(ctx)
	}
	if err == nil {
		err = bw.Flush()
	}
	p.log.Debug().Str("action", "pseudonymize").Str("format", string(f)).
		Int("personnummer", s.counts.Personnummer).Int("names", s.counts.Names).
		Bool("ok", err == nil).Msg("transform")
	return s.counts, err
}

// ErrInternal is the error of a transform that met a bug of its own (a
// panic in the detector): the input is refused, never passed on, and the
// process goes on serving. errors.Is finds it.
var ErrInternal = errors.New("pseudonym: internal error in the detector; the input was not transformed")

// internalError logs a recovered panic (the action only: the panic's
// value may quote the input) and returns ErrInternal.
func (p *Pseudonymizer) internalError(action string) error {
	p.log.Error().Str("action", action).Msg("internal error in the detector; input refused")
	return ErrInternal
}

// Reader returns a reader of the pseudonymized form of r, for request
// bodies: the transform runs in a goroutine as the result is read. done is
// called once with the counts and error when the stream ends or fails; a
// failed stream also fails the reader, so nothing partial is mistaken for a
// complete body. Close the reader to stop early.
func (p *Pseudonymizer) Reader(ctx context.Context, f Format, r io.Reader, done func(Counts, error)) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		c, err := p.Transform(ctx, f, r, pw)
		if done != nil {
			done(c, err)
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// PseudonymizeString pseudonymizes a short text held in memory.
func (p *Pseudonymizer) PseudonymizeString(ctx context.Context, f Format, in string) (string, Counts, error) {
	var out bytes.Buffer
	c, err := p.Transform(ctx, f, strings.NewReader(in), &out)
	if err != nil {
		return "", c, err
	}
	return out.String(), c, nil
}

// sniff guesses the format from the first bytes without consuming them. A
// head that starts like JSON or CSV but does not parse as such is text: a
// chat log opening with "[09:12]", notes with a stray quote.
func sniff(br *bufio.Reader) Format {
	head, _ := br.Peek(sniffSize)
	t := bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf")
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && parsesAsJSON(t) {
		return FormatJSON
	}
	if looksLikeForm(head) {
		return FormatForm
	}
	if looksLikeCSV(head) && parsesAsCSV(head, sniffComma(br), len(head) == sniffSize) {
		return FormatCSV
	}
	return FormatText
}

const sniffSize = 4096

// parsesAsJSON reports whether head is JSON, or the start of it.
func parsesAsJSON(head []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(head))
	for {
		_, err := dec.Token()
		switch {
		case err == nil:
			continue
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return true
		}
		return false
	}
}

// parsesAsCSV reports whether the whole lines of head are CSV records.
func parsesAsCSV(head []byte, comma byte, cut bool) bool {
	if cut {
		k := bytes.LastIndexByte(head, '\n')
		if k < 0 {
			return false
		}
		head = head[:k+1]
	}
	r := csv.NewReader(bytes.NewReader(head))
	r.Comma = rune(comma)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for {
		_, err := r.Read()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
}

func looksLikeForm(b []byte) bool {
	b = bytes.TrimRight(b, "\r\n") // a body saved to a file
	if len(b) == 0 || bytes.IndexByte(b, '=') < 1 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == '"' || c == '<' || c == '>' || c >= 0x7f {
			return false
		}
	}
	return true
}

func looksLikeCSV(b []byte) bool {
	lines := bytes.Split(b, []byte{'\n'})
	if len(lines) < 3 {
		return false
	}
	for _, sep := range []byte{',', ';', '\t'} {
		n := countUnquoted(lines[0], sep)
		if n == 0 {
			continue
		}
		if countUnquoted(lines[1], sep) == n {
			return true
		}
	}
	return false
}

// countUnquoted counts sep in line outside double quotes: the separators
// of a CSV record ("Lindqvist, Anna",ordf has one).
func countUnquoted(line []byte, sep byte) int {
	n, quoted := 0, false
	for _, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			n++
		}
	}
	return n
}

// storeFirstWriter writes the session's pending mappings to the store before
// passing output on: a token must never leave without its way back.
type storeFirstWriter struct {
	ctx context.Context
	s   *session
	w   io.Writer
}

func (g *storeFirstWriter) Write(b []byte) (int, error) {
	if err := g.s.flush(g.ctx); err != nil {
		return 0, err
	}
	return g.w.Write(b)
}

// MayHoldIdentifier reports whether s could hold a personnummer or a name
// the free-text detectors find. When it is false, PseudonymizePath and the
// text transform return s unchanged, so a caller on a hot path may skip
// them. Configured name fields are another matter: their values are
// replaced whole, whatever they hold.
//
// It is true for any ASCII digit (a personnummer needs them), any
// upper-case ASCII letter or non-ASCII byte (a name starts with a capital,
// Å and Ö included), '%' (an escape may hide either) and a space or '+'
// before a letter: text of several words may be a chat message, whose
// names may be written in lower case ("pratade med serkan demir").
func MayHoldIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c == '%' || c >= 0x80 {
			return true
		}
		if c := s[i]; (c == ' ' || c == '+') && i > 0 && i+1 < len(s) && isASCIILetter(s[i+1]) && isASCIILetter(s[i-1]) {
			return true
		}
	}
	return false
}
