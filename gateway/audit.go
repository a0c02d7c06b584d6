package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/pseudonym"
)

// auditEvent is the one audit record of a request (or of a tunnel or a
// refused CONNECT). It holds names, counts and our own reasons, never a
// value from a body.
type auditEvent struct {
	id         string
	start      time.Time
	user       string
	client     string
	host       string
	service    string
	method     string
	path       string
	action     string
	keyVersion int
	bytesUp    int64
	bytesDown  int64
	status     int
	reason     string
	reasonCode string // why it was refused or failed, as a fixed code
	counts     pseudonym.Counts
	keyFailure string        // for metrics only
	upgrade    *upgradeStats // requests that ask to switch protocols
}

func (e *auditEvent) write(l zerolog.Logger) {
	ev := l.Info().
		Str("request_id", e.id).
		Str("user", e.user).
		Str("client", e.client).
		Str("host", e.host).
		Str("service", e.service).
		Str("method", e.method).
		Str("path", e.path).
		Str("action", e.action).
		Int64("bytes_up", e.bytesUp).
		Int64("bytes_down", e.bytesDown).
		Int("status", e.status).
		Dur("duration", time.Since(e.start))
	if e.keyVersion > 0 {
		ev = ev.Int("key_version", e.keyVersion)
	}
	if c := e.counts; c != (pseudonym.Counts{}) {
		// Counts by type, never a value.
		ev = ev.Int("replaced", c.Total()).
			Int("replaced_personnummer", c.Personnummer).
			Int("replaced_names", c.Names).
			Int("reidentified", c.Reidentified()).
			Int("reidentified_personnummer", c.ReidentifiedPersonnummer).
			Int("reidentified_names", c.ReidentifiedNames).
			Int("unknown_tokens", c.Unknown)
	}
	if e.upgrade != nil {
		ev = e.upgrade.fields(ev)
	}
	if e.reason != "" {
		ev = ev.Str("reason", e.reason)
	}
	if e.reasonCode != "" {
		ev = ev.Str("reason_code", e.reasonCode)
	}
	ev.Msg("request")
}

// newRequestID returns a random 16-hex-digit ID.
func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
