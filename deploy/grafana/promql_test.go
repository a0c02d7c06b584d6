package grafana

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// A small PromQL reader, enough to say which metrics an expression
// selects, with which label matchers, and which labels it groups by. It
// knows PromQL's functions and keywords and Grafana's variables ($x and
// ${x}); it does not evaluate anything.

// selector is one metric selector of an expression: name{label=…}.
type selector struct {
	metric string
	labels []string // label names of its matchers
}

// promqlUse is what an expression names.
type promqlUse struct {
	selectors []selector
	grouping  []string // by (…), without (…), on (…), ignoring (…), group_left (…), group_right (…)
}

// promqlFunctions are PromQL's functions and aggregation operators:
// identifiers followed by "(" that are not metrics.
var promqlFunctions = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`abs absent absent_over_time acos acosh asin asinh atan atanh avg avg_over_time
		bottomk ceil changes clamp clamp_max clamp_min cos cosh count count_over_time count_values
		day_of_month day_of_week day_of_year days_in_month deg delta deriv exp floor group
		histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum
		holt_winters double_exponential_smoothing hour idelta increase irate label_join label_replace last_over_time limitk limit_ratio
		ln log10 log2 mad_over_time max max_over_time min min_over_time minute month pi predict_linear
		present_over_time quantile quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_by_label
		sort_by_label_desc sort_desc sqrt stddev stddev_over_time stdvar stdvar_over_time sum sum_over_time
		tan tanh time timestamp topk vector year`) {
		promqlFunctions[f] = true
	}
}

// promqlGrouping are the keywords followed by a list of label names.
var promqlGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// promqlKeywords are the other words that are not metrics.
var promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "inf": true, "nan": true}

type token struct {
	kind string // ident, number, string, var, punct, op
	text string
}

// tokenize splits a PromQL expression (with Grafana variables) into
// tokens.
func tokenize(expr string) ([]token, error) {
	var out []token
	rs := []rune(expr)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '#': // a comment runs to the end of the line
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(rs) && rs[j] != c {
				if rs[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, token{"string", string(rs[i : j+1])})
			i = j + 1
		case c == '$':
			j := i + 1
			if j < len(rs) && rs[j] == '{' {
				for j < len(rs) && rs[j] != '}' {
					j++
				}
				j++
			} else {
				for j < len(rs) && (isIdentRune(rs[j], false)) {
					j++
				}
			}
			out = append(out, token{"var", string(rs[i:min(j, len(rs))])})
			i = j
		case isIdentRune(c, true):
			j := i
			for j < len(rs) && isIdentRune(rs[j], false) {
				j++
			}
			out = append(out, token{"ident", string(rs[i:j])})
			i = j
		case unicode.IsDigit(c) || c == '.':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '.' || rs[j] == '_') {
				j++
			}
			out = append(out, token{"number", string(rs[i:j])})
			i = j
		case strings.ContainsRune("(){}[],", c):
			out = append(out, token{"punct", string(c)})
			i++
		case strings.ContainsRune("+-*/%^=!<>~@:", c):
			j := i + 1
			for j < len(rs) && strings.ContainsRune("=~", rs[j]) {
				j++
			}
			out = append(out, token{"op", string(rs[i:j])})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return out, nil
}

func isIdentRune(c rune, first bool) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

// parsePromQL returns the selectors and grouping labels of expr. An
// identifier followed by "(" must be a known function; one followed by
// "{", "[", an operator, "," , ")" or nothing is a metric.
func parsePromQL(expr string) (promqlUse, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return promqlUse{}, err
	}
	var u promqlUse
	next := func(i int) token {
		if i < len(toks) {
			return toks[i]
		}
		return token{}
	}
	// labelList reads "( a, b, … )" from i; returns the names and the
	// index after ")".
	labelList := func(i int) ([]string, int, error) {
		if next(i).text != "(" {
			return nil, i, nil // group_left without labels
		}
		var names []string
		for i++; i < len(toks) && toks[i].text != ")"; i++ {
			switch t := toks[i]; {
			case t.kind == "ident":
				names = append(names, t.text)
			case t.text == ",":
			default:
				return nil, i, fmt.Errorf("unexpected %q in a label list", t.text)
			}
		}
		if i >= len(toks) {
			return nil, i, fmt.Errorf("unterminated label list")
		}
		return names, i + 1, nil
	}
	// matchers reads "{ a="x", b=~"y" }" from i (at "{"); returns the
	// label names and the index after "}".
	matchers := func(i int) ([]string, int, error) {
		var names []string
		for i++; i < len(toks) && toks[i].text != "}"; {
			if toks[i].text == "," {
				i++
				continue
			}
			if toks[i].kind != "ident" || next(i+1).kind != "op" || next(i+2).kind != "string" {
				return nil, i, fmt.Errorf("malformed label matcher at %q", toks[i].text)
			}
			switch op := next(i + 1).text; op {
			case "=", "!=", "=~", "!~":
			default:
				return nil, i, fmt.Errorf("unknown matcher operator %q", op)
			}
			names = append(names, toks[i].text)
			i += 3
		}
		if i >= len(toks) {
			return nil, i, fmt.Errorf("unterminated label matchers")
		}
		return names, i + 1, nil
	}
	depth := 0
	for i := 0; i < len(toks); {
		t := toks[i]
		switch {
		case t.text == "(":
			depth++
			i++
		case t.text == ")":
			depth--
			if depth < 0 {
				return u, fmt.Errorf("unbalanced )")
			}
			i++
		case t.text == "[": // a range or subquery: [5m], [$__rate_interval], [1h:5m]
			for i < len(toks) && toks[i].text != "]" {
				i++
			}
			if i >= len(toks) {
				return u, fmt.Errorf("unterminated [")
			}
			i++
		case t.text == "{": // a selector without a name
			return u, fmt.Errorf("selector without a metric name")
		case t.kind == "ident" && promqlGrouping[t.text]:
			names, j, err := labelList(i + 1)
			if err != nil {
				return u, err
			}
			u.grouping = append(u.grouping, names...)
			i = j
		case t.kind == "ident" && promqlKeywords[strings.ToLower(t.text)]:
			i++
		case t.kind == "ident" && promqlFunctions[t.text] && (next(i+1).text == "by" || next(i+1).text == "without"):
			i++ // an aggregation with its grouping first: sum by (x) (…)
		case t.kind == "ident" && next(i+1).text == "(":
			if !promqlFunctions[t.text] {
				return u, fmt.Errorf("unknown function %s()", t.text)
			}
			i++
		case t.kind == "ident":
			s := selector{metric: t.text}
			i++
			if next(i).text == "{" {
				names, j, err := matchers(i)
				if err != nil {
					return u, err
				}
				s.labels, i = names, j
			}
			u.selectors = append(u.selectors, s)
		default:
			i++
		}
	}
	if depth != 0 {
		return u, fmt.Errorf("unbalanced (")
	}
	return u, nil
}

func TestParsePromQL(t *testing.T) {
	for _, tc := range []struct {
		expr     string
		metrics  []string
		labels   []string // of all selectors, in order
		grouping []string
	}{
		{`up`, []string{"up"}, nil, nil},
		{`sum by (action) (rate(sluss_requests_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))`,
			[]string{"sluss_requests_total"}, []string{"job", "instance"}, []string{"action"}},
		{`histogram_quantile(0.99, sum by (le, action) (rate(sluss_request_duration_seconds_bucket{instance=~"${instance}"}[5m])))`,
			[]string{"sluss_request_duration_seconds_bucket"}, []string{"instance"}, []string{"le", "action"}},
		{`sum(rate(a_sum[1m])) / sum(rate(a_count[1m])) by (x)`, []string{"a_sum", "a_count"}, nil, []string{"x"}},
		{`rate(x_total{status=~"5.."}[5m]) / ignoring(status) group_left rate(y_total[5m] offset 1h) > bool 0.5`,
			[]string{"x_total", "y_total"}, []string{"status"}, []string{"status"}},
		{`process_open_fds / process_max_fds and on(instance) sluss_keys_ready == 1`,
			[]string{"process_open_fds", "process_max_fds", "sluss_keys_ready"}, nil, []string{"instance"}},
		{`clamp_min(sum(increase(k{op!="a,b}"}[1h])), 1e-9)`, []string{"k"}, []string{"op"}, nil},
		{`sum(rate(m[5m:1m]))`, []string{"m"}, nil, nil},
	} {
		u, err := parsePromQL(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		var metrics, labels []string
		for _, s := range u.selectors {
			metrics = append(metrics, s.metric)
			labels = append(labels, s.labels...)
		}
		if !slices.Equal(metrics, tc.metrics) || !slices.Equal(labels, tc.labels) || !slices.Equal(u.grouping, tc.grouping) {
			t.Errorf("%s:\n got metrics %q labels %q grouping %q\nwant metrics %q labels %q grouping %q", tc.expr, metrics, labels, u.grouping, tc.metrics, tc.labels, tc.grouping)
		}
	}
	for _, bad := range []string{`rat(x[5m])`, `sum(x`, `x{a="b"`, `{__name__="x"}`, `x{a}`, `"open`} {
		if _, err := parsePromQL(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
