package gateway

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// MIME parameters (Content-Type, Content-Disposition) as a server reads
// them: RFC 2045 tokens and quoted strings, RFC 2231/5987 extended values
// (filename*=UTF-8''…, in any charset the gateway reads, and in
// continuations filename*0*, filename*1…) and RFC 2047 encoded words
// (=?UTF-8?B?…?=, which some form parsers decode in file names).
// mime.ParseMediaType reads only UTF-8 and US-ASCII extended values and
// silently drops others, so that a file name in ISO-8859-1 would not be
// seen at all. A rewritten header is always written from what was parsed
// (mime.FormatMediaType), never passed on as it came: a server cannot read
// a parameter the gateway did not.

var (
	errParamSyntax  = errors.New("malformed MIME parameters")
	errParamCharset = errors.New("MIME parameter in an unreadable charset")
)

// paramRefusal is the refusal for a header whose parameters do not parse.
func paramRefusal(err error, what string) *RefusedError {
	if errors.Is(err, errParamCharset) {
		return refuse(http.StatusUnsupportedMediaType, what+" has a parameter in a charset the gateway cannot read, so nothing was sent", nil)
	}
	return refuse(http.StatusBadRequest, what+" does not parse, so nothing was sent", nil)
}

// parseMediaParams parses a media type or disposition with parameters. The
// type is lower-cased, parameter names too (without their '*' and
// continuation numbers); values are decoded.
func parseMediaParams(v string) (string, map[string]string, error) {
	base, rest, _ := strings.Cut(v, ";")
	typ := strings.ToLower(strings.TrimSpace(base))
	if !validMediaType(typ) {
		return "", nil, errParamSyntax
	}
	if rest != "" {
		rest = ";" + rest
	}
	params := map[string]string{}
	ext := map[string]map[string]string{} // base name → raw pieces with '*'
	for {
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" || rest == ";" {
			break
		}
		key, val, r, ok := consumeParam(rest)
		if !ok {
			return "", nil, errParamSyntax
		}
		rest = r
		m := params
		if b, _, star := strings.Cut(key, "*"); star {
			if ext[b] == nil {
				ext[b] = map[string]string{}
			}
			m = ext[b]
		}
		if old, dup := m[key]; dup && old != val {
			return "", nil, errParamSyntax
		}
		m[key] = val
	}
	for name, pieces := range ext {
		v, err := joinExtended(name, pieces)
		if err != nil {
			return "", nil, err
		}
		params[name] = v // an extended value wins over a plain one (RFC 6266)
	}
	for k, v := range params {
		if strings.Contains(v, "=?") {
			d, err := decodeWords(v)
			if err != nil {
				return "", nil, errParamCharset
			}
			params[k] = d
		}
	}
	return typ, params, nil
}

// formatMediaParams writes a type and parameters back: non-ASCII values as
// RFC 2231 UTF-8, which every parser reads.
func formatMediaParams(typ string, params map[string]string) (string, error) {
	s := mime.FormatMediaType(typ, params)
	if s == "" {
		return "", errParamSyntax
	}
	return s, nil
}

// validMediaType reports whether t is token or token/token.
func validMediaType(t string) bool {
	major, minor, slash := strings.Cut(t, "/")
	return isToken(major) && (!slash || isToken(minor))
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	return c > 0x20 && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

// consumeParam reads "; name=value" from the start of s, as Go's mime
// package does (a backslash escapes only a special character in a quoted
// string: MSIE sends C:\dir\file unescaped).
func consumeParam(s string) (key, val, rest string, ok bool) {
	s, ok = strings.CutPrefix(strings.TrimLeft(s, " \t\r\n"), ";")
	if !ok {
		return "", "", "", false
	}
	s = strings.TrimLeft(s, " \t\r\n")
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	key, s = strings.ToLower(s[:i]), strings.TrimLeft(s[i:], " \t\r\n")
	if key == "" {
		return "", "", "", false
	}
	if s, ok = strings.CutPrefix(s, "="); !ok {
		return "", "", "", false
	}
	s = strings.TrimLeft(s, " \t\r\n")
	if !strings.HasPrefix(s, `"`) {
		i = 0
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == 0 {
			return "", "", "", false
		}
		return key, s[:i], s[i:], true
	}
	var b strings.Builder
	for i = 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return key, b.String(), s[i+1:], true
		case c == '\\' && i+1 < len(s) && strings.IndexByte(`()<>@,;:\"/[]?=`, s[i+1]) >= 0:
			b.WriteByte(s[i+1])
			i++
		case c == '\r' || c == '\n':
			return "", "", "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", "", "", false
}

// joinExtended decodes the RFC 2231 pieces of one parameter: "name*" alone,
// or the continuations "name*0", "name*0*", "name*1*", … (numbered from 0
// without gaps; a piece ending in '*' is percent-encoded, and the first
// such carries the charset).
func joinExtended(name string, pieces map[string]string) (string, error) {
	if v, ok := pieces[name+"*"]; ok {
		cs, raw, err := splitExtended(v)
		if err != nil {
			return "", err
		}
		b, ok := percentUnescape(raw)
		if !ok {
			return "", errParamSyntax
		}
		return decodeCharset(cs, b)
	}
	var buf []byte
	cs := ""
	n := 0
	for ; ; n++ {
		k := name + "*" + strconv.Itoa(n)
		if v, ok := pieces[k]; ok {
			buf = append(buf, v...)
			continue
		}
		v, ok := pieces[k+"*"]
		if !ok {
			break
		}
		if n == 0 {
			var err error
			if cs, v, err = splitExtended(v); err != nil {
				return "", err
			}
		}
		b, ok := percentUnescape(v)
		if !ok {
			return "", errParamSyntax
		}
		buf = append(buf, b...)
	}
	if n != len(pieces) {
		// A gap, or a piece that is neither: parsers disagree on what
		// such a value is, so it is not read at all.
		return "", errParamSyntax
	}
	return decodeCharset(cs, buf)
}

// splitExtended splits charset'language'value.
func splitExtended(v string) (charset, value string, err error) {
	cs, rest, ok := strings.Cut(v, "'")
	if !ok {
		return "", "", errParamSyntax
	}
	if _, value, ok = strings.Cut(rest, "'"); !ok {
		return "", "", errParamSyntax
	}
	return cs, value, nil
}

func percentUnescape(s string) ([]byte, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
			return nil, false
		}
		b = append(b, unhexDigit(s[i+1])<<4|unhexDigit(s[i+2]))
		i += 2
	}
	return b, true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhexDigit(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// decodeCharset decodes b from a parameter charset to UTF-8 (an empty
// charset is UTF-8, a superset of the US-ASCII it usually means).
func decodeCharset(cs string, b []byte) (string, error) {
	kind, enc := lookupCharset(cs)
	switch kind {
	case charsetUTF8, charsetNone:
		return string(b), nil
	case charsetUTF16:
		enc = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	case charsetUnknown:
		return "", errParamCharset
	}
	s, _, err := transform.String(enc.NewDecoder(), string(b))
	if err != nil {
		return "", errParamCharset
	}
	return s, nil
}

// decodeWords decodes the RFC 2047 words in v, in the charsets the
// gateway reads.
func decodeWords(v string) (string, error) {
	d := &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
		kind, enc := lookupCharset(cs)
		switch kind {
		case charsetUTF8:
			return r, nil
		case charsetUTF16:
			enc = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
		case charsetFixed:
		default:
			return nil, errParamCharset
		}
		return transform.NewReader(r, enc.NewDecoder()), nil
	}}
	return d.DecodeHeader(v)
}

// sortedKeys returns the keys of m in order, so rewriting is
// deterministic.
func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
