package gateway

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sluss/sluss/keys"
)

// The audit log is a hash chain. An AuditLog puts three fields in front
// of every event it writes, one JSON object per line:
//
//	{"chain":"3f9c0a…","seq":42,"prev":"<hex SHA-256 of line 41>", …the event…}
//
// chain is the gateway instance (random, one per start), seq counts the
// chain's lines from 1, and prev is the SHA-256 of the chain's previous
// line: its exact bytes without the newline ("" for seq 1). Several
// instances may write one file; each line names its chain.
//
// Some lines are signed with Ed25519 (AuditSigningKey): the first, action
// chain_start, which names the key's fingerprint; a checkpoint every
// interval and on Close (action checkpoint, kind interval or shutdown);
// and a checkpoint on each side of Rotate (kinds file_end and
// file_start). A signed line ends in "sig", the signature over
// auditSigContext followed by the line's bytes up to ,"sig":"; so it
// covers the line itself and, through prev, every line before it. The
// verifier (AuditVerifier) is the other half of this description.
const (
	auditSigContext  = "sluss audit checkpoint v1\n"
	auditKeyLabel    = "sluss audit checkpoint v1" // HKDF info
	auditKeyPrefix   = "ed25519:"
	auditChainIDSize = 8 // bytes, hex in the log

	// Checkpoint kinds.
	checkpointInterval  = "interval"
	checkpointShutdown  = "shutdown"
	checkpointFileEnd   = "file_end"
	checkpointFileStart = "file_start"

	// DefaultCheckpointInterval is how often an AuditLog signs its head
	// when AuditOptions.Interval is zero.
	DefaultCheckpointInterval = time.Minute
)

// codeAuditUnwritable is the reason code of requests refused because the
// audit log cannot be written.
const codeAuditUnwritable = "audit_unwritable"

// ErrAuditUnwritable is the reason requests are refused while the audit
// log cannot be written.
var ErrAuditUnwritable = errors.New("the audit log cannot be written, so the gateway refuses requests")

// AuditSigningKey derives the key that signs audit checkpoints from the
// key store's re-identification key: the Ed25519 seed is
// HKDF-SHA256(key, no salt, info "sluss audit checkpoint v1"). Deriving
// it needs no new secret (and no new Vault path); whoever can read the
// re-identification key can sign checkpoints, and whoever has the public
// key (AuditPublicKey) can check them.
func AuditSigningKey(s keys.Store) (ed25519.PrivateKey, error) {
	secret, err := s.ReidentificationKey()
	if err != nil {
		return nil, fmt.Errorf("no key for audit checkpoints: %w", err)
	}
	seed, err := hkdf.Key(sha256.New, secret, nil, auditKeyLabel, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// AuditPublicKey formats the public half of a checkpoint key as
// "ed25519:" and 64 hex digits, as `sluss audit key` prints it.
func AuditPublicKey(pub ed25519.PublicKey) string {
	return auditKeyPrefix + hex.EncodeToString(pub)
}

// ParseAuditPublicKey parses what AuditPublicKey prints.
func ParseAuditPublicKey(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), auditKeyPrefix))
	if err != nil || len(b) != ed25519.PublicKeySize || !strings.HasPrefix(strings.TrimSpace(s), auditKeyPrefix) {
		return nil, errors.New("not an audit checkpoint key (ed25519: and 64 hex digits)")
	}
	return ed25519.PublicKey(b), nil
}

// AuditKeyFingerprint names a checkpoint key in chain_start and checkpoint
// events: 16 hex digits of its SHA-256, as keys are listed elsewhere.
func AuditKeyFingerprint(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// AuditOptions configure an AuditLog.
type AuditOptions struct {
	// Key signs the chain start and the checkpoints (AuditSigningKey).
	Key ed25519.PrivateKey
	// Interval between checkpoints: zero is DefaultCheckpointInterval,
	// negative none but those of Close and Rotate. An interval without
	// new events writes none.
	Interval time.Duration
	// Node names the machine in chain_start (its host name, say).
	Node string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log gets a line when the log becomes unwritable and when it
	// recovers (never an event's content); nil: nothing.
	Log *zerolog.Logger
}

// AuditLog is the gateway's audit trail: an io.Writer for zerolog that
// chains each line to the one before (see the format above), signs
// checkpoints, and knows whether the log can be written. Writes are
// serialized, one write call per event, so concurrent requests make one
// consistent chain.
//
// A failed write marks the log unwritable: Writable reports false (after
// one retry) and the gateway refuses requests until a write succeeds.
// The first line written after a failure is an audit_resumed event that
// counts the events lost, so the gap is on record.
type AuditLog struct {
	key      ed25519.PrivateKey
	keyFP    string
	chain    string
	node     []byte // JSON
	now      func() time.Time
	diag     *zerolog.Logger
	interval time.Duration

	mu         sync.Mutex
	w          io.Writer
	buf        []byte
	seq        uint64   // the last line written; 0: none yet
	prev       [32]byte // its hash
	signedSeq  uint64   // the last signed line
	started    bool     // chain_start is written
	lost       uint64   // events not written since the last write that was
	torn       bool     // the last failed write left part of a line
	closed     bool
	failedAt   time.Time
	stop, done chan struct{}
	stopOnce   sync.Once

	failure atomic.Pointer[auditFailure] // nil while writable
	errors  atomic.Uint64                // failed writes
}

type auditFailure struct{ err error }

// NewAuditLog starts a chain on w: it writes the chain_start event and,
// with an interval, starts checkpointing. If w cannot be written now the
// log starts unwritable (Err says why) and the chain starts with the first
// write that succeeds; the gateway refuses requests until then.
func NewAuditLog(w io.Writer, o AuditOptions) (*AuditLog, error) {
	if len(o.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("audit log needs an Ed25519 checkpoint key")
	}
	id := make([]byte, auditChainIDSize)
	rand.Read(id)
	a := &AuditLog{
		key:      o.Key,
		keyFP:    AuditKeyFingerprint(o.Key.Public().(ed25519.PublicKey)),
		chain:    hex.EncodeToString(id),
		now:      o.Now,
		diag:     o.Log,
		interval: o.Interval,
		w:        w,
		buf:      make([]byte, 0, 1024),
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.node, _ = json.Marshal(o.Node)
	if a.interval == 0 {
		a.interval = DefaultCheckpointInterval
	}
	a.mu.Lock()
	if err := a.resumeLocked(); err != nil {
		a.failLocked(err, 0)
	}
	a.mu.Unlock()
	if a.interval > 0 {
		a.stop, a.done = make(chan struct{}), make(chan struct{})
		go a.checkpoints()
	}
	return a, nil
}

// Chain is the instance's chain ID, as every line names it.
func (a *AuditLog) Chain() string { return a.chain }

// KeyFingerprint names the checkpoint key, as chain_start does.
func (a *AuditLog) KeyFingerprint() string { return a.keyFP }

// Logger returns a zerolog logger for audit events that writes to a, with
// the fields every audit event carries (time, log: audit).
func (a *AuditLog) Logger() zerolog.Logger {
	return zerolog.New(a).With().Timestamp().Str("log", "audit").Logger()
}

// Write writes one event: p must be one JSON object and a newline, as
// zerolog writes it.
func (a *AuditLog) Write(p []byte) (int, error) {
	if len(p) < 3 || p[0] != '{' || p[len(p)-2] != '}' || p[len(p)-1] != '\n' || bytes.IndexByte(p[:len(p)-1], '\n') >= 0 {
		a.mu.Lock()
		err := a.failLocked(errors.New("an audit event must be one JSON object on one line"), 1)
		a.mu.Unlock()
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.resumeLocked(); err != nil {
		return 0, a.failLocked(err, 1)
	}
	if err := a.emitLocked(p[1:len(p)-2], false); err != nil {
		return 0, a.failLocked(err, 1)
	}
	if a.closed {
		// A request that finished after Close: the chain must still end
		// in a shutdown checkpoint.
		a.checkpointLocked(checkpointShutdown)
	}
	return len(p), nil
}

// Err returns nil while the last write succeeded, and its error otherwise.
func (a *AuditLog) Err() error {
	if a == nil {
		return nil
	}
	if f := a.failure.Load(); f != nil {
		return f.err
	}
	return nil
}

// Writable reports whether the log can be written: true while the last
// write succeeded; otherwise it retries (writing the audit_resumed event)
// and reports whether that worked.
func (a *AuditLog) Writable() bool {
	if a == nil || a.failure.Load() == nil {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failure.Load() == nil {
		return true
	}
	if err := a.resumeLocked(); err != nil {
		a.failLocked(err, 0)
		return false
	}
	return true
}

// lose counts an event that is not even tried while the log is
// unwritable; the audit_resumed event reports it with the rest.
func (a *AuditLog) lose() {
	a.mu.Lock()
	a.lost++
	a.mu.Unlock()
}

// WriteErrors counts failed writes since the start.
func (a *AuditLog) WriteErrors() uint64 {
	if a == nil {
		return 0
	}
	return a.errors.Load()
}

// Checkpoint signs the chain's head now (kind interval). It writes
// nothing when no line was written since the last signed one.
func (a *AuditLog) Checkpoint() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failure.Load() == nil && a.seq == a.signedSeq {
		return nil
	}
	return a.checkpointLocked(checkpointInterval)
}

// Rotate moves the log to w, for log rotation: it ends the old writer with
// a signed file_end checkpoint and starts w with a signed file_start one,
// so each file can be verified alone and the chain runs on across them.
// It returns the old writer for the caller to close.
func (a *AuditLog) Rotate(w io.Writer) (io.Writer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	if a.started {
		errs = append(errs, a.checkpointLocked(checkpointFileEnd))
	}
	old := a.w
	a.w, a.torn = w, false
	if a.started {
		if err := a.emitLocked(a.checkpointBody(checkpointFileStart), true); err != nil {
			errs = append(errs, a.failLocked(err, 0))
		} else {
			a.signedSeq = a.seq
		}
	}
	if err := a.resumeLocked(); err != nil {
		errs = append(errs, a.failLocked(err, 0))
	}
	return old, errors.Join(errs...)
}

// Close stops checkpointing and ends the chain with a signed shutdown
// checkpoint. Events written later still go to the log, each followed by
// another shutdown checkpoint.
func (a *AuditLog) Close() error {
	a.stopOnce.Do(func() {
		if a.stop != nil {
			close(a.stop)
			<-a.done
		}
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	return a.checkpointLocked(checkpointShutdown)
}

func (a *AuditLog) checkpoints() {
	defer close(a.done)
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.Checkpoint()
		}
	}
}

// resumeLocked writes what must precede the next line: the chain start if
// it is not written yet, and after failed writes the audit_resumed event.
func (a *AuditLog) resumeLocked() error {
	if !a.started {
		b := a.eventHead(nil, "chain_start")
		b = append(b, `,"node":`...)
		b = append(b, a.node...)
		b = append(b, `,"key":"`...)
		b = append(b, a.keyFP...)
		b = append(b, `","message":"chain_start"`...)
		if err := a.emitLocked(b, true); err != nil {
			return err
		}
		a.started, a.signedSeq = true, a.seq
	}
	if a.lost > 0 || a.failure.Load() != nil {
		lost := a.lost
		b := a.eventHead(nil, "audit_resumed")
		b = append(b, `,"lost":`...)
		b = strconv.AppendUint(b, lost, 10)
		b = append(b, `,"message":"audit log writable again"`...)
		if err := a.emitLocked(b, false); err != nil {
			return err
		}
		a.lost = 0
		if a.diag != nil {
			a.diag.Warn().Uint64("lost", lost).Dur("unwritable_for", a.now().Sub(a.failedAt)).Msg("the audit log can be written again")
		}
	}
	return nil
}

func (a *AuditLog) checkpointLocked(kind string) error {
	if err := a.resumeLocked(); err != nil {
		return a.failLocked(err, 0)
	}
	if err := a.emitLocked(a.checkpointBody(kind), true); err != nil {
		return a.failLocked(err, 0)
	}
	a.signedSeq = a.seq
	return nil
}

func (a *AuditLog) checkpointBody(kind string) []byte {
	b := a.eventHead(nil, "checkpoint")
	b = append(b, `,"kind":"`...)
	b = append(b, kind...)
	b = append(b, `","key":"`...)
	b = append(b, a.keyFP...)
	return append(b, `","message":"checkpoint"`...)
}

// eventHead starts the fields of an event of the log's own, in zerolog's
// words.
func (a *AuditLog) eventHead(b []byte, action string) []byte {
	b = append(b, `"level":"info","log":"audit","time":"`...)
	b = a.now().AppendFormat(b, time.RFC3339)
	b = append(b, `","action":"`...)
	b = append(b, action...)
	return append(b, '"')
}

// emitLocked writes one line: the chain fields, then fields (a JSON
// object's members, without braces), then the signature if sign.
func (a *AuditLog) emitLocked(fields []byte, sign bool) error {
	seq := a.seq + 1
	b := a.buf[:0]
	if a.torn {
		// End the piece a failed write left, so it stands alone on its
		// line (the verifier reports it) and this line is whole.
		b = append(b, '\n')
	}
	start := len(b)
	b = append(b, `{"chain":"`...)
	b = append(b, a.chain...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev":"`...)
	if a.seq > 0 {
		b = hex.AppendEncode(b, a.prev[:])
	}
	b = append(b, '"')
	if len(fields) > 0 {
		b = append(b, ',')
		b = append(b, fields...)
	}
	if sign {
		sig := ed25519.Sign(a.key, append([]byte(auditSigContext), b[start:]...))
		b = append(b, `,"sig":"`...)
		b = base64.RawStdEncoding.AppendEncode(b, sig)
		b = append(b, '"')
	}
	b = append(b, '}')
	h := sha256.Sum256(b[start:])
	b = append(b, '\n')
	a.buf = b
	n, err := a.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		a.torn = n > 0 && n < len(b) || a.torn && n == 0
		return err
	}
	a.torn = false
	a.seq, a.prev = seq, h
	if a.failure.Load() != nil {
		a.failure.Store(nil)
	}
	return nil
}

// failLocked records a failed write (lost events among it) and returns
// the error, wrapped.
func (a *AuditLog) failLocked(err error, lost uint64) error {
	a.errors.Add(1)
	a.lost += lost
	err = fmt.Errorf("audit log: %w", err)
	if a.failure.Load() == nil {
		a.failedAt = a.now()
		if a.diag != nil {
			a.diag.Error().Err(err).Msg("the audit log cannot be written: refusing requests until it can")
		}
	}
	a.failure.Store(&auditFailure{err})
	return err
}

// WithAuditLog tells the gateway which AuditLog its audit logger writes
// to (New's audit argument should be a.Logger()). While a cannot be
// written, the gateway refuses requests with 503, /readyz is not ready,
// and sluss_audit_write_errors_total counts the failures.
func WithAuditLog(a *AuditLog) Option {
	return func(g *Gateway) { g.auditLog = a }
}

// auditRefusal is the refusal of every request while the audit log cannot
// be written, nil otherwise.
func (g *Gateway) auditRefusal() *refusal {
	if g.auditLog.Writable() {
		return nil
	}
	return &refusal{http.StatusServiceUnavailable, "deny", codeAuditUnwritable, "Audit log unavailable", ErrAuditUnwritable.Error()}
}

// watchAudit adds the audit log's metrics.
func (m *metrics) watchAudit(a *AuditLog) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluss_audit_write_errors_total",
			Help: "Failed writes to the audit log; while the last one failed, requests are refused.",
		}, func() float64 { return float64(a.WriteErrors()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluss_audit_writable",
			Help: "1 while the last audit log write succeeded, 0 otherwise; as /readyz.",
		}, func() float64 {
			if a.Err() != nil {
				return 0
			}
			return 1
		}),
	)
}
