package document

import (
	"errors"
	"fmt"
	"os"
)

// Limits bound what one document may cost. Zero fields take the defaults
// shown.
type Limits struct {
	// MaxBytes bounds the document as it is uploaded or downloaded.
	MaxBytes int64 // 100 MiB
	// MaxUncompressed bounds the bytes of all its parts decompressed,
	// embedded documents included: a zip bomb is refused, not expanded.
	MaxUncompressed int64 // 1 GiB
	// MaxRatio bounds how much a part may expand past its first MiB
	// (decompressed bytes per compressed byte).
	MaxRatio int // 200
	// MaxParts bounds the files in one archive.
	MaxParts int // 10 000
	// MaxUnit bounds the XML the rewriter holds at once: one paragraph,
	// cell, property or text node, with its markup.
	MaxUnit int // 8 MiB
	// MaxDepth bounds documents embedded in documents.
	MaxDepth int // 2
	// SpoolMemory is how much of a document Spool keeps in memory; the
	// rest goes to an unlinked temporary file in SpoolDir, encrypted
	// with a key of its own that exists only in memory.
	SpoolMemory int64 // 8 MiB
	// SpoolDir is where Spool puts that file; default os.TempDir().
	SpoolDir string
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 100 << 20
	}
	if l.MaxUncompressed <= 0 {
		l.MaxUncompressed = 1 << 30
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = 200
	}
	if l.MaxParts <= 0 {
		l.MaxParts = 10000
	}
	if l.MaxUnit <= 0 {
		l.MaxUnit = 8 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 2
	}
	if l.SpoolMemory <= 0 {
		l.SpoolMemory = 8 << 20
	}
	if l.SpoolDir == "" {
		l.SpoolDir = os.TempDir()
	}
	return l
}

// ErrNotDocument is returned (wrapped) for input that is no office
// document: not a zip archive, or one without the parts of a document.
var ErrNotDocument = errors.New("document: not an office document")

// ErrTooLarge is returned (wrapped) when a document exceeds its Limits.
var ErrTooLarge = errors.New("document: too large")

// ErrUnsupported is returned (wrapped) for a document the rewriter could
// parse but must not pass: an embedded object or a macro project it
// cannot read, an encrypted part, a thumbnail it cannot blank.
var ErrUnsupported = errors.New("document: holds content that cannot be pseudonymized")

// A ParseError says which part of a document does not parse. It never
// quotes the document: parts are numbered in archive order from 1 (their
// names may be personal data), and Msg is the rewriter's own.
type ParseError struct {
	Part int // 0: the archive itself
	Line int // in the part, when known
	Msg  string
}

func (e *ParseError) Error() string {
	switch {
	case e.Part == 0:
		return "document: " + e.Msg
	case e.Line > 0:
		return fmt.Sprintf("document: part %d, line %d: %s", e.Part, e.Line, e.Msg)
	}
	return fmt.Sprintf("document: part %d: %s", e.Part, e.Msg)
}

// Is makes every ParseError an ErrNotDocument too, for callers that only
// tell refusals apart.
func (e *ParseError) Is(target error) bool { return target == ErrNotDocument }
