package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The inventory's views: JSON and an HTML page on the admin listener,
// CSV and a table for `sluss services`.

// apiServices serves the live inventory as JSON: an array of
// ServiceUsage, one per host.
func (g *Gateway) apiServices(c *apiCall, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, g.metrics.inventory.Services())
}

// apiServicesPage serves the live inventory as an HTML table that sorts
// by a click on a column header, with the configuration line that would
// approve or block each host that is not approved. Self-contained: one
// inline style and script, allowed by hash in the CSP, nothing fetched.
func (g *Gateway) apiServicesPage(c *apiCall, w http.ResponseWriter, r *http.Request) {
	rows := g.metrics.inventory.Services()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", servicesPageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	hosts := len(rows)
	if hosts > 0 && rows[hosts-1].Host == OverflowHost {
		hosts--
	}
	w.WriteHeader(http.StatusOK)
	servicesPage.Execute(w, struct {
		Rows  []ServiceUsage
		Hosts int
		Since string
	}{rows, hosts, g.metrics.inventory.started.UTC().Format(time.RFC3339)})
}

// basicAsBearer lets a browser open an API page: it answers 401 with a
// Basic challenge too, and takes the password of Basic credentials as
// the bearer token (the user name is ignored).
func basicAsBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, tok, ok := r.BasicAuth(); ok {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		next.ServeHTTP(&basicChallenge{ResponseWriter: w}, r)
	})
}

type basicChallenge struct{ http.ResponseWriter }

func (b *basicChallenge) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		b.Header().Add("WWW-Authenticate", `Basic realm="sluss", charset="UTF-8"`)
	}
	b.ResponseWriter.WriteHeader(code)
}

func (b *basicChallenge) Unwrap() http.ResponseWriter { return b.ResponseWriter }

const servicesPageStyle = `body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:.85em}
th,td{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.t{white-space:nowrap;font-variant-numeric:tabular-nums}
th{cursor:pointer;user-select:none;background:#f3f3f3;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \25B2"}
th[aria-sort=descending]::after{content:" \25BC"}
code{background:#eee;padding:0 .2em;white-space:nowrap}
.approved{color:#060}.blocked,.denied{color:#a00}.tunnelled{color:#850}`

// servicesPageScript sorts the table by the clicked column: numbers and
// times largest first, text A–Z first; a second click reverses. The sort
// is stable, so ties keep the order they had.
const servicesPageScript = `document.querySelectorAll('#services th').forEach(function (th, i) {
  th.addEventListener('click', function () {
    var text = th.dataset.type === 'text';
    var dir = th.getAttribute('aria-sort') === 'descending' ? 'ascending' :
      th.getAttribute('aria-sort') === 'ascending' ? 'descending' : (text ? 'ascending' : 'descending');
    th.parentNode.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir);
    var key = function (tr) { var c = tr.cells[i]; return th.dataset.type === 'num' ? Number(c.dataset.v) : (c.dataset.v || c.textContent); };
    var body = document.querySelector('#services tbody');
    var rows = Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), d = typeof x === 'number' ? x - y : (x < y ? -1 : x > y ? 1 : 0);
      return dir === 'ascending' ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});`

var servicesPageCSP = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	cspHash(servicesPageStyle), cspHash(servicesPageScript))

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

var servicesPage = template.Must(template.New("services").Funcs(template.FuncMap{"bytes": humanBytes, "when": shortTime}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sluss: cloud services in use</title>
<style>` + servicesPageStyle + `</style>
</head><body>
<h1>Cloud services in use</h1>
<p>{{.Hosts}} host(s) seen by this gateway since {{.Since}}; counts start again when it restarts (<code>sluss services</code> reads the audit logs for longer periods). Users are counted, never named. Click a column header to sort.</p>
<table id="services"><thead><tr>
<th data-type="text">Host</th><th data-type="text">Service</th><th data-type="text">Decision</th>
<th data-type="num">Requests</th><th data-type="num">Users</th><th data-type="num">Up</th><th data-type="num">Down</th>
<th data-type="num">Refused</th><th data-type="num">Errors</th><th data-type="num">TLS failures</th>
<th data-type="time">First seen (UTC)</th><th data-type="time">Last seen (UTC)</th><th data-type="text">To approve or block</th>
</tr></thead><tbody>
{{range .Rows}}<tr>
<td>{{.Host}}</td><td>{{.Service}}</td><td class="{{.Decision}}">{{.Decision}}{{with .Profile}} ({{.}}){{end}}</td>
<td class="n" data-v="{{.Requests}}">{{.Requests}}</td><td class="n" data-v="{{.Users}}">{{if .UsersAtLeast}}≥ {{end}}{{.Users}}</td>
<td class="n" data-v="{{.BytesUp}}">{{bytes .BytesUp}}</td><td class="n" data-v="{{.BytesDown}}">{{bytes .BytesDown}}</td>
<td class="n" data-v="{{.Refused}}">{{.Refused}}</td><td class="n" data-v="{{.Errors}}">{{.Errors}}</td><td class="n" data-v="{{.TLSFailures}}">{{.TLSFailures}}</td>
<td class="t" data-v="{{.FirstSeen}}">{{when .FirstSeen}}</td><td class="t" data-v="{{.LastSeen}}">{{when .LastSeen}}</td>
<td>{{with .Approve}}<code>{{.}}</code>{{end}}{{with .Block}}<br><code title="an entry of gateway.services in the configuration file">{{.}}</code>{{end}}</td>
</tr>
{{end}}</tbody></table>
<p><small>sluss, the region's cloud gateway · decision: the policy's latest answer for the host (approved = inspected, with its profile); refused: denied or blocked requests</small></p>
<script>` + servicesPageScript + `</script>
</body></html>
`))

// humanBytes writes a byte count for people: 532 B, 12.3 KiB, 4.0 GiB.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB", "PiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}

// shortTime shows an RFC 3339 time as "2025-03-01 09:59", in UTC (the
// cell's data-v keeps the full value for sorting).
func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04")
}

var servicesColumns = []string{"host", "service", "decision", "profile", "requests", "users", "users_at_least",
	"bytes_up", "bytes_down", "first_seen", "last_seen", "refused", "errors", "tls_failures", "actions", "approve", "block"}

// WriteServicesCSV writes the inventory as CSV with a header line;
// actions as "deny=1;encrypt=3".
func WriteServicesCSV(w io.Writer, rows []ServiceUsage) error {
	cw := csv.NewWriter(w)
	cw.Write(servicesColumns)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, r := range rows {
		cw.Write([]string{r.Host, r.Service, r.Decision, r.Profile, i64(r.Requests), strconv.Itoa(r.Users), strconv.FormatBool(r.UsersAtLeast),
			i64(r.BytesUp), i64(r.BytesDown), r.FirstSeen, r.LastSeen, i64(r.Refused), i64(r.Errors), i64(r.TLSFailures),
			actionList(r.Actions), r.Approve, r.Block})
	}
	cw.Flush()
	return cw.Error()
}

// actionList writes actions as "deny=1;encrypt=3", by name.
func actionList(actions map[string]int64) string {
	names := make([]string, 0, len(actions))
	for a := range actions {
		names = append(names, a)
	}
	sort.Strings(names)
	for i, a := range names {
		names[i] = a + "=" + strconv.FormatInt(actions[a], 10)
	}
	return strings.Join(names, ";")
}

// WriteServicesTable writes the inventory as a table for a terminal, then,
// for the hosts not approved, the configuration that would approve or
// block each.
func WriteServicesTable(w io.Writer, rows []ServiceUsage) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSERVICE\tDECISION\tREQUESTS\tUSERS\tUP\tDOWN\tREFUSED\tERRORS\tTLS FAILED\tFIRST SEEN\tLAST SEEN")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	var todo []ServiceUsage
	for _, r := range rows {
		decision := dash(r.Decision)
		if r.Profile != "" {
			decision += " (" + r.Profile + ")"
		}
		users := strconv.Itoa(r.Users)
		if r.UsersAtLeast {
			users = "≥" + users
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.Host, dash(r.Service), decision, r.Requests, users,
			humanBytes(r.BytesUp), humanBytes(r.BytesDown), r.Refused, r.Errors, r.TLSFailures, dash(r.FirstSeen), dash(r.LastSeen))
		if r.Approve != "" {
			todo = append(todo, r)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(todo) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nNot approved. To inspect (approve) a host, or block it in gateway.services:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range todo {
		line := "  " + r.Host + "\t" + r.Approve
		if r.Block != "" {
			line += "\t" + r.Block
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
