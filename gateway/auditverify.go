package gateway

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Kinds of problems an AuditVerifier reports.
const (
	AuditMalformed = "malformed" // not a JSON object, or an empty line
	AuditUnchained = "unchained" // JSON, but no chain, seq and prev
	AuditCut       = "cut"       // the file ends inside a line
	AuditStart     = "start"     // a chain begins without its start
	AuditGap       = "gap"       // events missing
	AuditReorder   = "reorder"   // an event after a later one
	AuditDuplicate = "duplicate" // a seq seen before
	AuditEdit      = "edit"      // a line does not hash to the next one's prev
	AuditSignature = "signature" // a signed line whose signature does not verify
	AuditKey       = "key"       // a chain signed with another key
	AuditLost      = "lost"      // the gateway could not write some events
	AuditEnd       = "end"       // a chain ends without a final checkpoint
)

// maxAuditLine bounds one line; a longer one is reported, not buffered.
const maxAuditLine = 1 << 20

// AuditProblem is one thing wrong with an audit log, located by file and
// line. Its text names chains, seqs and line numbers only, never an
// event's content.
type AuditProblem struct {
	File string
	Line int
	Kind string
	Text string
	file int // index, for ordering
}

func (p AuditProblem) String() string {
	return p.File + ":" + strconv.Itoa(p.Line) + ": " + p.Text
}

// AuditChainSummary describes one chain as the verifier saw it.
type AuditChainSummary struct {
	Chain             string
	FirstSeq, LastSeq uint64
	Checkpoints       int    // valid signed lines, chain_start included
	LastSigned        uint64 // seq of the last valid signed line
	// End is the kind of the chain's last line if it is a valid
	// checkpoint (shutdown, file_end, interval …), "" otherwise.
	End string
	// Continued: the chain began at a file_start checkpoint, in a file
	// after one that is not among those verified.
	Continued bool
}

// AuditReport is the result of a verification.
type AuditReport struct {
	Lines    int
	Chains   []AuditChainSummary
	Problems []AuditProblem
	// Warnings are open chains (AuditVerifier.Open): their events after
	// the last checkpoint are not covered by a signature yet.
	Warnings []AuditProblem
}

// AuditVerifier checks audit logs written by AuditLog: every chain must
// start with its signed chain_start (or, in a later file, a file_start
// checkpoint), run without gaps, reordering or edits (each line's prev is
// the SHA-256 of the chain's line before), carry valid signatures, record
// no lost events, and end with a signed shutdown or file_end checkpoint.
// Give it the files of a rotated set oldest first; chains run on across
// them. A file cut short is detected because its chains then end without
// a final checkpoint: the events after their last checkpoint are the
// unverified tail.
type AuditVerifier struct {
	// Open accepts chains that do not end in a final checkpoint (a log
	// still being written): their tails are warnings, not problems.
	Open bool

	key    ed25519.PublicKey
	fp     string
	files  []string
	counts []int // lines per file
	lines  int
	chains map[string]*auditChainState
	order  []*auditChainState
	report AuditReport
}

type auditPos struct{ file, line int }

type auditChainState struct {
	id        string
	first     uint64
	seq       uint64
	hash      [32]byte
	at        auditPos // of the last accepted line
	signedSeq uint64
	signedAt  auditPos
	signed    int
	end       string // kind of the last line if a valid checkpoint
	continued bool
	badKey    bool
	gaps      []auditGap
}

// auditGap is a run of seqs not seen (yet): a later line may still bring
// them, and then they were reordered, not lost.
type auditGap struct {
	from, to uint64
	at       auditPos // the line after the gap
	next     string   // that line's prev: the hash seq to must have
}

const maxAuditGaps = 10000

// NewAuditVerifier returns a verifier for checkpoints signed with key.
func NewAuditVerifier(key ed25519.PublicKey) *AuditVerifier {
	return &AuditVerifier{key: key, fp: AuditKeyFingerprint(key), chains: map[string]*auditChainState{}}
}

// Verify reads one file (plain or gzip-compressed); call it for each file
// in order, then Report. The error is for reading only: what is wrong in
// the file goes into the report.
func (v *AuditVerifier) Verify(name string, r io.Reader) error {
	file := len(v.files)
	v.files = append(v.files, name)
	v.counts = append(v.counts, 0)
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer gz.Close()
		br = bufio.NewReaderSize(gz, 64<<10)
	}
	var long []byte // a line longer than the reader's buffer
	tooLong := false
	n := 0
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if tooLong = tooLong || len(long)+len(b) > maxAuditLine; !tooLong {
				long = append(long, b...)
			}
			continue
		}
		if long != nil {
			b, long = append(long, b...), nil
		}
		if len(b) > 0 || tooLong {
			n++
			v.lines++
			v.counts[file] = n
			pos := auditPos{file, n}
			switch {
			case tooLong:
				v.problem(pos, AuditMalformed, "a line longer than 1 MiB: not an audit event")
			case b[len(b)-1] != '\n':
				v.problem(pos, AuditCut, "the file ends inside this line (cut mid-write)")
			default:
				v.line(b[:len(b)-1], pos)
			}
			tooLong = false
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

// chainLine is what the verifier reads of a line; the hash covers the rest.
type chainLine struct {
	Chain  string  `json:"chain"`
	Seq    uint64  `json:"seq"`
	Prev   *string `json:"prev"`
	Action string  `json:"action"`
	Kind   string  `json:"kind"`
	Key    string  `json:"key"`
	Lost   uint64  `json:"lost"`
}

func (v *AuditVerifier) line(b []byte, pos auditPos) {
	var l chainLine
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &l) != nil {
		v.problem(pos, AuditMalformed, "not a JSON audit event (a torn write, or an edit)")
		return
	}
	if l.Chain == "" || l.Seq == 0 || l.Prev == nil {
		v.problem(pos, AuditUnchained, "an event without chain, seq and prev: not written by the chained audit log")
		return
	}
	h := sha256.Sum256(b)
	signed := l.Action == "chain_start" || l.Action == "checkpoint"
	c := v.chains[l.Chain]
	name := chainName(l.Chain)
	if c == nil {
		c = &auditChainState{id: l.Chain, first: l.Seq}
		v.chains[l.Chain] = c
		v.order = append(v.order, c)
		switch {
		case l.Action == "chain_start" && l.Seq == 1 && *l.Prev == "":
		case l.Action == "checkpoint" && l.Kind == checkpointFileStart:
			c.continued = true
		default:
			v.problem(pos, AuditStart, fmt.Sprintf("%s begins at seq %d without its chain_start or a file_start checkpoint: an earlier file is missing, or its first events were removed", name, l.Seq))
		}
		v.accept(c, &l, b, h, pos, signed)
		return
	}
	switch {
	case l.Seq == c.seq+1:
		if *l.Prev != hex.EncodeToString(c.hash[:]) {
			v.problem(c.at, AuditEdit, fmt.Sprintf("%s seq %d was changed: its hash is not the prev of seq %d at %s (or that line was)", name, c.seq, l.Seq, v.where(pos)))
		}
	case l.Seq > c.seq+1:
		if len(c.gaps) < maxAuditGaps {
			c.gaps = append(c.gaps, auditGap{from: c.seq + 1, to: l.Seq - 1, at: pos, next: *l.Prev})
		} else {
			v.problem(pos, AuditGap, fmt.Sprintf("%s seq %d follows seq %d: %s missing", name, l.Seq, c.seq, events(l.Seq-c.seq-1)))
		}
	default:
		if i := c.gapOf(l.Seq); i >= 0 {
			g := c.gaps[i]
			v.problem(g.at, AuditReorder, fmt.Sprintf("%s is out of order: seq %d comes at %s, after seq %d here", name, l.Seq, v.where(pos), g.to+1))
			if l.Seq == g.to && g.next != hex.EncodeToString(h[:]) {
				v.problem(pos, AuditEdit, fmt.Sprintf("%s seq %d was changed: its hash is not the prev of seq %d at %s (or that line was)", name, l.Seq, l.Seq+1, v.where(g.at)))
			}
			c.fillGap(i, l.Seq)
		} else {
			v.problem(pos, AuditDuplicate, fmt.Sprintf("%s seq %d appears again, after seq %d", name, l.Seq, c.seq))
		}
		if signed {
			v.checkSignature(c, &l, b, pos)
		}
		return
	}
	if l.Action == "chain_start" {
		v.problem(pos, AuditStart, fmt.Sprintf("%s has a second chain_start at seq %d", name, l.Seq))
	}
	v.accept(c, &l, b, h, pos, signed)
}

// accept makes a line the chain's newest.
func (v *AuditVerifier) accept(c *auditChainState, l *chainLine, b []byte, h [32]byte, pos auditPos, signed bool) {
	c.seq, c.hash, c.at, c.end = l.Seq, h, pos, ""
	if signed && v.checkSignature(c, l, b, pos) {
		c.signedSeq, c.signedAt, c.end = l.Seq, pos, l.Kind
		c.signed++
		if l.Action == "chain_start" {
			c.end = "chain_start"
		}
	}
	if l.Action == "audit_resumed" && l.Lost > 0 {
		v.problem(pos, AuditLost, fmt.Sprintf("%s: %s before seq %d could not be written (the audit log was unwritable)", chainName(c.id), events(l.Lost), l.Seq))
	}
}

// checkSignature verifies a signed line: the signature is its last field
// and covers everything before it.
func (v *AuditVerifier) checkSignature(c *auditChainState, l *chainLine, b []byte, pos auditPos) bool {
	if l.Key != v.fp {
		if !c.badKey {
			c.badKey = true
			v.problem(pos, AuditKey, fmt.Sprintf("%s is signed with key %s, not the key given (%s)", chainName(c.id), fingerprintName(l.Key), v.fp))
		}
		return false
	}
	const field = `,"sig":"`
	i := bytes.LastIndex(b, []byte(field))
	ok := i >= 0 && bytes.HasSuffix(b, []byte(`"}`)) && i+len(field) <= len(b)-2
	if ok {
		sig, err := base64.RawStdEncoding.DecodeString(string(b[i+len(field) : len(b)-2]))
		msg := append([]byte(auditSigContext), b[:i]...)
		ok = err == nil && ed25519.Verify(v.key, msg, sig)
	}
	if !ok {
		v.problem(pos, AuditSignature, fmt.Sprintf("%s seq %d: the signature of this %s does not verify", chainName(c.id), l.Seq, l.Action))
	}
	return ok
}

func (c *auditChainState) gapOf(seq uint64) int {
	for i, g := range c.gaps {
		if g.from <= seq && seq <= g.to {
			return i
		}
	}
	return -1
}

func (c *auditChainState) fillGap(i int, seq uint64) {
	g := c.gaps[i]
	switch {
	case g.from == g.to:
		c.gaps = slices.Delete(c.gaps, i, i+1)
	case seq == g.from:
		c.gaps[i].from++
	case seq == g.to:
		// The hash of seq-1 is unknown: nothing to check there.
		c.gaps[i].to, c.gaps[i].next = seq-1, ""
	default:
		c.gaps[i].to, c.gaps[i].next = seq-1, ""
		c.gaps = slices.Insert(c.gaps, i+1, auditGap{from: seq + 1, to: g.to, at: g.at, next: g.next})
	}
}

// Report ends the verification: gaps not filled are missing events, and
// chains that do not end in a final checkpoint are cut.
func (v *AuditVerifier) Report() *AuditReport {
	r := &v.report
	r.Lines = v.lines
	for _, c := range v.order {
		name := chainName(c.id)
		for _, g := range c.gaps {
			what := fmt.Sprintf("seq %d", g.from)
			if g.to > g.from {
				what = fmt.Sprintf("seq %d–%d", g.from, g.to)
			}
			v.problem(g.at, AuditGap, fmt.Sprintf("%s: %s missing before this line (%s deleted or lost)", name, what, events(g.to-g.from+1)))
		}
		c.gaps = nil
		r.Chains = append(r.Chains, AuditChainSummary{Chain: c.id, FirstSeq: c.first, LastSeq: c.seq, Checkpoints: c.signed,
			LastSigned: c.signedSeq, End: c.end, Continued: c.continued})
		if c.end == checkpointShutdown || c.end == checkpointFileEnd {
			continue
		}
		// Located where the file with the chain's last line ends.
		var text string
		if c.signedSeq == 0 {
			text = fmt.Sprintf("%s ends at seq %d (%s) without a final checkpoint, and none of its events is covered by a valid signature", name, c.seq, v.where(c.at))
		} else {
			text = fmt.Sprintf("%s ends at seq %d (%s) without a final checkpoint, leaving %s after the checkpoint at %s (seq %d) unverified: the file was cut, or the gateway stopped without shutting down",
				name, c.seq, v.where(c.at), events(c.seq-c.signedSeq), v.where(c.signedAt), c.signedSeq)
		}
		p := AuditProblem{File: v.files[c.at.file], Line: v.counts[c.at.file], Kind: AuditEnd, Text: text, file: c.at.file}
		if v.Open {
			r.Warnings = append(r.Warnings, p)
		} else {
			r.Problems = append(r.Problems, p)
		}
	}
	slices.SortStableFunc(r.Problems, func(a, b AuditProblem) int {
		if a.file != b.file {
			return a.file - b.file
		}
		return a.Line - b.Line
	})
	return r
}

func (v *AuditVerifier) problem(pos auditPos, kind, text string) {
	v.report.Problems = append(v.report.Problems, AuditProblem{File: v.files[pos.file], Line: pos.line, Kind: kind, Text: text, file: pos.file})
}

func events(n uint64) string {
	if n == 1 {
		return "1 event"
	}
	return strconv.FormatUint(n, 10) + " events"
}

func (v *AuditVerifier) where(p auditPos) string {
	return v.files[p.file] + ":" + strconv.Itoa(p.line)
}

// chainName names a chain in a problem: its ID if it looks like one the
// gateway makes, never arbitrary text from the file.
func chainName(id string) string {
	if isHexID(id, 2*auditChainIDSize) {
		return "chain " + id
	}
	return "a chain with a malformed ID"
}

func fingerprintName(fp string) string {
	if isHexID(fp, 16) {
		return fp
	}
	return "(none or malformed)"
}

func isHexID(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
