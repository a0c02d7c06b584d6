package gateway

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluss/sluss/pseudonym/document"
)

// Config is the gateway section of sluss's YAML configuration file. The
// zero value is usable: loopback listeners, every host blocked, no users
// (so only loopback clients, treated as the local, authorised user).
//
//	gateway:
//	  listen: 127.0.0.1:8080
//	  admin_listen: 127.0.0.1:8081
//	  default: block              # or tunnel: what unlisted hosts get
//	  upstream_ca: /etc/sluss/upstream-ca.pem
//	  users_file: /etc/sluss/users   # "name:bcrypt-hash" lines (htpasswd -B)
//	  audit_log: /var/log/sluss/audit.json   # default: standard output
//	  audit_checkpoint_interval: 1m  # signed chain head (sluss audit verify)
//	  groups:
//	    - name: staff
//	      members: [alice, bob]
//	      rights: [decrypt, reidentify]
//	  services:
//	    - name: files
//	      hosts: [files.example.org, "*.blob.example.net"]
//	      profile: storage        # inspect | storage | webdav | form | documents | s3 | tus | graph | nextcloud
//	      rules:                  # tried before the profile's own rules
//	        - methods: [POST]
//	          path: /api/*
//	          content_type: application/json
//	          request: [pseudonymize]  # encrypt, pseudonymize, pseudonymize-metadata, pseudonymize-documents
//	          response: [reidentify]   # decrypt, reidentify, reidentify-documents, webdav-sizes
//	          websocket: pseudonymize  # refuse | relay | pseudonymize (default from the transformers)
//	          websocket_binary: allow  # binary messages pass unchanged (default: refused)
//	    - hosts: [updates.example.com]
//	      action: tunnel          # inspect (default) | tunnel | block
//	    - name: archive
//	      hosts: [s3.region.example]
//	      profile: s3             # S3 clients; keys: sluss keys s3 add
//	      options:
//	        upstream_key: AKIA…   # signs issued keys' requests upstream
//	    - name: intranet-archive
//	      hosts: [archive.region.internal]
//	      ports: [443, 8443]      # default: 443 (CONNECT, https), 80 (http)
//	      allow_private: true     # private ranges only where allowed
//	  resolve:                    # fixed addresses, as /etc/hosts (still egress-checked)
//	    archive.region.internal: [10.1.2.3]
type Config struct {
	Listen      string `yaml:"listen"`
	AdminListen string `yaml:"admin_listen"`
	Default     string `yaml:"default"`
	// UnlistedPorts are the ports unlisted hosts may be reached on when
	// Default is tunnel; default 443 (CONNECT) and 80 (plain http).
	UnlistedPorts []int           `yaml:"unlisted_ports"`
	Services      []ServiceConfig `yaml:"services"`
	UpstreamCA    string          `yaml:"upstream_ca"`
	UsersFile     string          `yaml:"users_file"`
	Groups        []GroupConfig   `yaml:"groups"`
	AuditLog      string          `yaml:"audit_log"`
	Limits        Limits          `yaml:"limits"`
	API           APIConfig       `yaml:"api"`
	// PACProxy is the host:port that /proxy.pac tells browsers to use;
	// default: the proxy listener's address, or the host the PAC file was
	// fetched from with the proxy's port when it listens on all addresses.
	PACProxy string `yaml:"pac_proxy"`
	// AuditCheckpointInterval is how often the audit log's chain head is
	// signed (default 1m; see AuditLog).
	AuditCheckpointInterval time.Duration `yaml:"audit_checkpoint_interval"`
	// Resolve gives names fixed addresses, as /etc/hosts would, for names
	// the gateway must not look up in DNS (split horizon, tests). The
	// addresses still pass the egress checks of the service they reach.
	Resolve map[string][]string `yaml:"resolve"`
	// Profiles are profiles beyond the built-in ones, each a protocol
	// adapter (gateway/s3) registered by the program that wires the
	// gateway; a service names one in its profile field.
	Profiles map[string]ProfileFunc `yaml:"-"`
}

// A ProfileFunc builds the rules of a service whose profile it is, from
// the service's options.
type ProfileFunc func(options map[string]string) ([]Rule, error)

// APIConfig configures the HTTP API on the admin listener.
//
//	api:
//	  tokens:
//	    - name: ehr-export           # shown in the audit log as the user
//	      sha256: 9f86d08…           # hex SHA-256 of the bearer token
//	      roles: [encrypt, pseudonymize]
//
// Make a token and its hash with
//
//	token=$(head -c 32 /dev/urandom | base64 | tr -d '=+/')
//	printf %s "$token" | sha256sum     # the sha256 value; give $token to the caller
//
// With no tokens and a loopback admin listener, local callers need no
// token; otherwise every call needs one.
type APIConfig struct {
	Tokens []APIToken `yaml:"tokens"`
}

// APIToken is one bearer token, stored as the hex SHA-256 of its text.
// Roles are encrypt, decrypt, pseudonymize, reidentify and audit (the
// service inventory).
type APIToken struct {
	Name   string   `yaml:"name"`
	SHA256 string   `yaml:"sha256"`
	Roles  []string `yaml:"roles"`
}

// ServiceConfig names a cloud service by its hosts and says what to do
// with it.
type ServiceConfig struct {
	Name    string       `yaml:"name"`
	Hosts   []string     `yaml:"hosts"`
	Action  string       `yaml:"action"`
	Profile string       `yaml:"profile"`
	Rules   []RuleConfig `yaml:"rules"`
	// Ports the gateway may connect to for this service; default 443
	// for CONNECT (and https) and 80 for plain http.
	Ports []int `yaml:"ports"`
	// AllowPrivate lets the service's names resolve to private ranges
	// (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
	AllowPrivate bool `yaml:"allow_private"`
	// AllowLoopback lets the service's names resolve to loopback; a
	// service that lists a loopback host (127.0.0.1, ::1, localhost)
	// has it implicitly. The gateway's own listeners stay out of reach.
	AllowLoopback bool `yaml:"allow_loopback"`
	// Options are settings of the service's profile, for profiles that
	// take any (see the profile's documentation).
	Options map[string]string `yaml:"options"`
}

// RuleConfig is one custom rule. Empty match fields match everything.
type RuleConfig struct {
	Methods     []string `yaml:"methods"`
	Path        string   `yaml:"path"`
	ContentType string   `yaml:"content_type"`
	Request     []string `yaml:"request"`
	Response    []string `yaml:"response"`
	// Deny, when set, refuses matching requests with this reason.
	Deny string `yaml:"deny"`
	// WebSocket is refuse, relay or pseudonymize: what happens to
	// WebSocket upgrades the rule matches. Default: pseudonymize for
	// rules that pseudonymize, relay for rules without transformers,
	// refuse otherwise (storage, webdav).
	WebSocket string `yaml:"websocket"`
	// WebSocketBinary: allow lets binary messages through a pseudonymized
	// WebSocket session unchanged; by default they are refused.
	WebSocketBinary string `yaml:"websocket_binary"`
}

// GroupConfig grants rights (decrypt, reidentify) to users.
type GroupConfig struct {
	Name    string   `yaml:"name"`
	Members []string `yaml:"members"`
	Rights  []string `yaml:"rights"`
}

// Limits bound what one client or upstream can hold of the gateway. Zero
// fields take the defaults shown.
type Limits struct {
	MaxConnections   int           `yaml:"max_connections"`   // 1024
	MaxHeaderBytes   int           `yaml:"max_header_bytes"`  // 64 KiB
	HeaderTimeout    time.Duration `yaml:"header_timeout"`    // 10s to send request headers
	IdleTimeout      time.Duration `yaml:"idle_timeout"`      // 2m between requests or tunnel bytes
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"` // 10s for TLS handshakes, both sides
	DialTimeout      time.Duration `yaml:"dial_timeout"`      // 10s to connect upstream
	ResponseTimeout  time.Duration `yaml:"response_timeout"`  // 2m from request sent to response headers
	// MaxWebSocketMessage bounds a text message the gateway reassembles
	// to pseudonymize; a longer one closes the session (1009).
	MaxWebSocketMessage int `yaml:"max_websocket_message"` // 1 MiB
	// A compressed body the gateway pseudonymizes or re-identifies is
	// refused (413) once it decodes to more than MaxDecodedBytes, or,
	// past its first MiB, to more than MaxDecodeRatio bytes per byte
	// received: it is decoded as it streams, never whole in memory.
	MaxDecodedBytes int64 `yaml:"max_decoded_bytes"` // 64 MiB
	MaxDecodeRatio  int   `yaml:"max_decode_ratio"`  // 100
	// MaxDocumentBytes bounds an office document that a
	// pseudonymize-documents rule reads whole (413 past it), and one that
	// reidentify-documents re-identifies (larger ones pass with tokens).
	MaxDocumentBytes int64 `yaml:"max_document_bytes"` // 100 MiB
	// MaxSpoolBytesPerUser bounds what one user's unfinished document
	// uploads in pieces (S3 multipart, tus, Nextcloud chunks, Graph
	// sessions in a documents service) hold in the shared upload state
	// together, on every gateway (413 past it).
	MaxSpoolBytesPerUser int64 `yaml:"max_spool_bytes_per_user"` // 1 GiB or twice max_document_bytes; never below max_document_bytes
	// DocumentSpoolDir holds documents past 8 MiB while they are
	// rewritten, in unlinked files encrypted with a key held in memory.
	DocumentSpoolDir string `yaml:"document_spool_dir"` // os.TempDir()
}

func (l Limits) withDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = 1024
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	if l.MaxWebSocketMessage <= 0 {
		l.MaxWebSocketMessage = 1 << 20
	}
	def(&l.HeaderTimeout, 10*time.Second)
	def(&l.IdleTimeout, 2*time.Minute)
	def(&l.HandshakeTimeout, 10*time.Second)
	def(&l.DialTimeout, 10*time.Second)
	def(&l.ResponseTimeout, 2*time.Minute)
	if l.MaxDecodedBytes <= 0 {
		l.MaxDecodedBytes = 64 << 20
	}
	if l.MaxDecodeRatio <= 0 {
		l.MaxDecodeRatio = 100
	}
	if l.MaxDocumentBytes <= 0 {
		l.MaxDocumentBytes = 100 << 20
	}
	if l.MaxSpoolBytesPerUser <= 0 {
		l.MaxSpoolBytesPerUser = max(1<<30, 2*l.MaxDocumentBytes)
	}
	// One whole document always fits.
	l.MaxSpoolBytesPerUser = max(l.MaxSpoolBytesPerUser, l.MaxDocumentBytes)
	return l
}

// documentLimits are the limits of the document rewriter.
func (l Limits) documentLimits() document.Limits {
	l = l.withDefaults()
	return document.Limits{MaxBytes: l.MaxDocumentBytes, SpoolDir: l.DocumentSpoolDir}
}

// Approve adds a service for one host pattern with a profile, as the
// --approve HOSTPATTERN[:PORT[,PORT…]][=PROFILE] flag does. The profile
// defaults to storage, the ports to 443 (and 80 for plain http).
func (c *Config) Approve(spec string) error {
	hostport, profile, _ := strings.Cut(spec, "=")
	if profile == "" {
		profile = "storage"
	}
	host, ports, err := splitApprovedHost(hostport)
	if err != nil {
		return err
	}
	if _, err := parseHostPattern(host); err != nil {
		return err
	}
	if _, ok := profiles[profile]; !ok && c.Profiles[profile] == nil {
		return fmt.Errorf("unknown profile %q (known: %s)", profile, profileNames(c.Profiles))
	}
	c.Services = append(c.Services, ServiceConfig{Name: host, Hosts: []string{host}, Profile: profile, Ports: ports})
	return nil
}

// splitApprovedHost splits "host:443,8443" (or "[::1]:443") into the host
// and its ports; no port is nil.
func splitApprovedHost(s string) (string, []int, error) {
	host, list := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", nil, fmt.Errorf("bad host %q: missing ]", s)
		}
		host, list = s[1:end], strings.TrimPrefix(s[end+1:], ":")
		if s[end+1:] != "" && !strings.HasPrefix(s[end+1:], ":") {
			return "", nil, fmt.Errorf("bad host %q", s)
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.Count(s, ":") == 1 {
		host, list = s[:i], s[i+1:]
	}
	if list == "" {
		return host, nil, nil
	}
	var ports []int
	for _, f := range strings.Split(list, ",") {
		p, err := strconv.Atoi(f)
		if err != nil || p < 1 || p > 65535 {
			return "", nil, fmt.Errorf("bad port %q in %q", f, s)
		}
		ports = append(ports, p)
	}
	return host, ports, nil
}
