package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"hash/maphash"
	"io"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"
)

// DefaultInventoryHosts is how many hosts the gateway's live inventory
// keeps.
const DefaultInventoryHosts = 10000

// OverflowHost is the host of the row that counts the events of hosts the
// inventory had no room for, or whose names no policy could list (longer
// than a DNS name, or not printable ASCII). It is never a host name.
const OverflowHost = "(other hosts)"

// Decisions as the inventory reports them: what the policy answered for a
// host. A host that saw several is reported with the latest policy answer
// (approved, tunnelled or blocked; a request refused inside an inspected
// connection, by a rule say, shows the host approved); denied means every request was refused
// before the policy answered (authentication, a destination or port not
// allowed); none (empty) means the host saw only actions the inventory
// does not know. Refusals and errors are counted whatever the decision.
const (
	DecisionApproved  = "approved"  // inspected, with its profile when known
	DecisionTunnelled = "tunnelled" // passed through unread
	DecisionBlocked   = "blocked"   // not approved
	DecisionDenied    = "denied"    // refused before the policy answered
)

const (
	maxHostLen        = 253 // a DNS name
	maxActionsPerHost = 16  // actions are ours, but a log may hold others
	userPairsPerHost  = 100
)

// decisionOf is the policy decision an audit action shows, if any. A
// failed TLS handshake with the gateway happens only for inspected hosts.
var decisionOf = map[string]string{
	string(OutcomeInspect):      DecisionApproved,
	string(OutcomePseudonymize): DecisionApproved,
	string(OutcomeEncrypt):      DecisionApproved,
	string(OutcomeDecrypt):      DecisionApproved,
	"tls_failed":                DecisionApproved,
	string(OutcomeTunnel):       DecisionTunnelled,
	"block":                     DecisionBlocked,
}

// refusedInside are the reasons a request is refused inside an inspected
// connection: the policy had approved the host.
var refusedInside = map[string]bool{codeRule: true, codeHostMismatch: true, codeTransformation: true, codeUpgrade: true}

// notRequests are audit events that concern the log itself, not a
// request (the hash chain's markers).
var notRequests = map[string]bool{"chain_start": true, "checkpoint": true}

// AuditRecord is what the inventory reads of an audit event.
type AuditRecord struct {
	Time       time.Time
	Host       string // host only, as the policy sees it
	Service    string
	Profile    string // the service's profile; the live gateway knows it, the audit log does not say
	User       string
	Action     string
	Status     int
	BytesUp    int64
	BytesDown  int64
	Reason     string
	ReasonCode string
}

// auditLine is an audit log line as gateway/audit.go writes it; fields
// it does not name (seq, prev, counts, …) are ignored.
type auditLine struct {
	Message    *string         `json:"message"`
	Time       json.RawMessage `json:"time"`
	Host       string          `json:"host"`
	Service    string          `json:"service"`
	User       string          `json:"user"`
	Action     string          `json:"action"`
	Status     int             `json:"status"`
	BytesUp    int64           `json:"bytes_up"`
	BytesDown  int64           `json:"bytes_down"`
	Reason     string          `json:"reason"`
	ReasonCode string          `json:"reason_code"`
}

// ParseAuditRecord reads one audit log line. ok is false for a line that
// is not the audit event of a request: not a JSON object, another message,
// or a marker of the log itself (chain_start, checkpoint).
func ParseAuditRecord(line []byte) (rec AuditRecord, ok bool) {
	var l auditLine
	if json.Unmarshal(line, &l) != nil {
		return rec, false
	}
	if l.Message != nil && *l.Message != "request" || notRequests[l.Action] {
		return rec, false
	}
	if l.Message == nil && l.Action == "" {
		return rec, false
	}
	return AuditRecord{
		Time: parseAuditTime(l.Time), Host: l.Host, Service: l.Service, User: l.User,
		Action: l.Action, Status: l.Status, BytesUp: l.BytesUp, BytesDown: l.BytesDown,
		Reason: l.Reason, ReasonCode: l.ReasonCode,
	}, true
}

// parseAuditTime reads zerolog's time field: RFC 3339 by default, Unix
// seconds or milliseconds if a deployment configured those.
func parseAuditTime(raw json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, _ := time.Parse(time.RFC3339Nano, s)
		return t
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) {
		return time.Time{}
	}
	if f > 1e12 {
		return time.UnixMilli(int64(f))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// AuditLogStats says what ReadAuditLog read.
type AuditLogStats struct {
	Events    int // request events counted
	Skipped   int // other events and lines that are not JSON
	Malformed int // of those, lines that are not JSON objects at all
}

// ReadAuditLog adds every request event of an audit log (JSON lines) to
// the inventory. Lines longer than 1 MiB are skipped as malformed.
func (inv *Inventory) ReadAuditLog(r io.Reader) (AuditLogStats, error) {
	var st AuditLogStats
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			st.Skipped++
			st.Malformed++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			line = nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if rec, ok := ParseAuditRecord(line); ok {
				inv.Add(rec)
				st.Events++
			} else {
				st.Skipped++
				if !json.Valid(line) || line[0] != '{' {
					st.Malformed++
				}
			}
		}
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, err
		}
	}
}

// Inventory is the cloud-service inventory. It answers the question a data protection
// officer asks first: which cloud services do people actually use? It
// counts, per host, what the audit events say: the service and the
// policy's decision, requests, distinct users (a count: it holds keyed
// 64-bit hashes, never a name), bytes each way, first and last seen,
// refusals, errors and failed TLS handshakes. It never sees a path.
//
// The gateway keeps one, fed by every audit event it records, and serves
// it at GET /v1/services; `sluss services` builds one from audit logs with
// ReadAuditLog. Memory is bounded: at most maxHosts hosts (further hosts,
// and names no policy could list, are counted in one row, OverflowHost)
// and at most 100 (host, user) pairs per host on average.
//
// The zero value is not usable; NewInventory makes one. It is safe for
// concurrent use.
type Inventory struct {
	mu       sync.Mutex
	maxHosts int
	maxPairs int
	pairs    int
	seed     maphash.Seed
	hosts    map[string]*hostUsage
	other    hostUsage
	hasOther bool
	started  time.Time
}

type hostUsage struct {
	service     string
	profile     string
	decision    string
	decidedAt   time.Time
	requests    int64
	refused     int64
	errors      int64
	tlsFailures int64
	bytesUp     int64
	bytesDown   int64
	first, last time.Time
	users       map[uint64]struct{}
	usersCapped bool
	actions     map[string]int64
}

// NewInventory returns an empty inventory for at most maxHosts hosts
// (DefaultInventoryHosts if maxHosts ≤ 0).
func NewInventory(maxHosts int) *Inventory {
	if maxHosts <= 0 {
		maxHosts = DefaultInventoryHosts
	}
	return &Inventory{
		maxHosts: maxHosts,
		maxPairs: maxHosts * userPairsPerHost,
		seed:     maphash.MakeSeed(),
		hosts:    map[string]*hostUsage{},
		other:    hostUsage{actions: map[string]int64{}},
		started:  time.Now(),
	}
}

// Add counts one audit event. Events without a host (API calls) and
// markers of the log itself are not counted.
func (inv *Inventory) Add(r AuditRecord) {
	if r.Host == "" || notRequests[r.Action] {
		return
	}
	var user uint64
	if r.User != "" {
		// Keyed with a per-inventory seed: the aggregate holds no name
		// and nothing that could be matched against a list of names.
		user = maphash.String(inv.seed, r.User) | 1
	}
	t := r.Time
	if !t.IsZero() {
		t = t.UTC().Truncate(time.Second)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	u := inv.hosts[r.Host]
	if u == nil {
		if len(inv.hosts) >= inv.maxHosts || !policyHost(r.Host) {
			inv.hasOther = true
			inv.other.add(r, t)
			return
		}
		u = &hostUsage{users: map[uint64]struct{}{}, actions: map[string]int64{}}
		inv.hosts[r.Host] = u
	}
	u.add(r, t)
	if user != 0 {
		if _, seen := u.users[user]; !seen {
			if inv.pairs < inv.maxPairs {
				u.users[user] = struct{}{}
				inv.pairs++
			} else {
				u.usersCapped = true
			}
		}
	}
}

func (u *hostUsage) add(r AuditRecord, t time.Time) {
	if !t.IsZero() {
		if u.first.IsZero() || t.Before(u.first) {
			u.first = t
		}
		if t.After(u.last) {
			u.last = t
		}
	}
	if r.Service != "" {
		u.service = r.Service
	}
	if _, ok := u.actions[r.Action]; ok || len(u.actions) < maxActionsPerHost {
		u.actions[r.Action]++
	} else {
		u.actions["other"]++
	}
	d, ok := decisionOf[r.Action]
	if !ok && r.Action == "deny" && refusedInside[r.ReasonCode] {
		d, ok = DecisionApproved, true
	}
	if ok && !t.Before(u.decidedAt) {
		u.decision, u.decidedAt = d, t
		if d == DecisionApproved && r.Profile != "" {
			u.profile = r.Profile
		}
	}
	u.bytesUp += r.BytesUp
	u.bytesDown += r.BytesDown
	switch {
	case r.Action == "tls_failed":
		u.tlsFailures++
		return
	case r.Action == "deny" || r.Action == "block":
		u.refused++
	case r.Status >= 400 || r.Reason != "" || r.ReasonCode != "":
		u.errors++
	}
	u.requests++
}

// policyHost reports whether h could be a host a policy lists: at most a
// DNS name long, printable ASCII, no space.
func policyHost(h string) bool {
	if len(h) > maxHostLen {
		return false
	}
	for i := 0; i < len(h); i++ {
		if h[i] <= ' ' || h[i] > '~' {
			return false
		}
	}
	return true
}

// ServiceUsage is one row of the inventory: one host.
type ServiceUsage struct {
	Host     string `json:"host"`
	Service  string `json:"service"`
	Decision string `json:"decision"`
	Profile  string `json:"profile,omitempty"`
	Requests int64  `json:"requests"`
	// Users is the number of distinct users; UsersAtLeast says the
	// inventory ran out of room for them, so there were more.
	Users        int    `json:"users"`
	UsersAtLeast bool   `json:"users_at_least,omitempty"`
	BytesUp      int64  `json:"bytes_up"`
	BytesDown    int64  `json:"bytes_down"`
	FirstSeen    string `json:"first_seen,omitempty"` // RFC 3339, UTC
	LastSeen     string `json:"last_seen,omitempty"`
	Refused      int64  `json:"refused"`      // deny and block
	Errors       int64  `json:"errors"`       // other failures: upstream errors, cut responses, …
	TLSFailures  int64  `json:"tls_failures"` // clients' failed TLS handshakes with the gateway
	// Actions counts the events by audit action (inspect, encrypt, tunnel,
	// deny, tls_failed, …).
	Actions map[string]int64 `json:"actions"`
	// Approve and Block are, for a host that is not approved, the
	// configuration that would approve it (inspect, to observe it first)
	// or block it.
	Approve string `json:"approve,omitempty"`
	Block   string `json:"block,omitempty"`
}

// Services returns one row per host, by requests (most first; ties by
// host name), the overflow row last.
func (inv *Inventory) Services() []ServiceUsage {
	inv.mu.Lock()
	rows := make([]ServiceUsage, 0, len(inv.hosts)+1)
	for h, u := range inv.hosts {
		rows = append(rows, u.row(h))
	}
	var other *ServiceUsage
	if inv.hasOther {
		o := inv.other.row(OverflowHost)
		o.Service, o.Decision = "", "" // a mix of hosts
		other = &o
	}
	inv.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Requests != rows[j].Requests {
			return rows[i].Requests > rows[j].Requests
		}
		return rows[i].Host < rows[j].Host
	})
	for i := range rows {
		rows[i].suggest()
	}
	if other != nil {
		rows = append(rows, *other)
	}
	return rows
}

func (u *hostUsage) row(host string) ServiceUsage {
	r := ServiceUsage{
		Host: host, Service: u.service, Decision: u.decision, Profile: u.profile,
		Requests: u.requests, Users: len(u.users), UsersAtLeast: u.usersCapped,
		BytesUp: u.bytesUp, BytesDown: u.bytesDown,
		FirstSeen: rfc3339(u.first), LastSeen: rfc3339(u.last),
		Refused: u.refused, Errors: u.errors, TLSFailures: u.tlsFailures,
		Actions: make(map[string]int64, len(u.actions)),
	}
	if r.Decision == "" && r.Refused > 0 {
		r.Decision = DecisionDenied
	}
	if r.Decision != DecisionApproved {
		r.Profile = ""
	}
	for a, n := range u.actions {
		r.Actions[a] = n
	}
	return r
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// suggest fills in Approve and Block for a host that is not approved:
// the --approve flag that inspects it, and the gateway.services entry
// that blocks it (unless it is blocked already). Only for names a policy
// can list as they are.
func (r *ServiceUsage) suggest() {
	if r.Decision == DecisionApproved || !suggestableHost(r.Host) {
		return
	}
	h := r.Host
	if bytes.IndexByte([]byte(h), ':') >= 0 {
		h = "[" + h + "]" // IPv6
	}
	r.Approve = "--approve " + h + "=inspect"
	if r.Decision != DecisionBlocked {
		r.Block = `- {hosts: ["` + r.Host + `"], action: block}`
	}
}

func suggestableHost(h string) bool {
	if h == "" || h == OverflowHost {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	_, err := parseHostPattern(h)
	return err == nil
}

// inventoryAdd counts an audit event in the gateway's live inventory,
// with the profile of the service that approved the host.
func (g *Gateway) inventoryAdd(ev *auditEvent) {
	if ev.host == "" {
		return
	}
	r := AuditRecord{
		Time: time.Now(), Host: ev.host, Service: ev.service, User: ev.user, Action: ev.action,
		Status: ev.status, BytesUp: ev.bytesUp, BytesDown: ev.bytesDown, Reason: ev.reason, ReasonCode: ev.reasonCode,
	}
	if decisionOf[ev.action] == DecisionApproved {
		if svc := g.policy.Lookup(ev.host); svc.Name == ev.service {
			r.Profile = svc.Profile
		}
	}
	g.metrics.inventory.Add(r)
}
