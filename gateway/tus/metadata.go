package tus

import (
	"encoding/base64"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/pseudonym"
)

// Upload-Metadata is "key base64value,key base64value,key": the values
// are what clients put there — file names above all (tus-js-client and
// Uppy: filename, name, filetype, relativePath), which the provider
// stores and shows. They go upstream pseudonymized; keys are the
// protocol's words and stay.

// filenameKeys hold a file name, pseudonymized as the gateway's
// Content-Disposition file names are.
var filenameKeys = map[string]bool{"filename": true, "name": true, "fileName": true}

// maxMetadata bounds the Upload-Metadata header the adapter reads.
const maxMetadata = 16 << 10

type metaPair struct {
	key, value string
	hasValue   bool
}

func parseMetadata(h string) ([]metaPair, error) {
	if len(h) > maxMetadata {
		return nil, badRequest("Upload-Metadata is longer than the gateway's limit")
	}
	var out []metaPair
	seen := map[string]bool{}
	for _, item := range strings.Split(h, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, has := strings.Cut(item, " ")
		if k == "" || strings.ContainsAny(k, " \t") || seen[k] {
			return nil, badRequest("Upload-Metadata is malformed (an empty or repeated key)")
		}
		seen[k] = true
		p := metaPair{key: k, hasValue: has}
		if has {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil {
				return nil, badRequest("an Upload-Metadata value is not base64")
			}
			if !utf8.Valid(raw) {
				// Text the gateway cannot read could hide a name.
				return nil, badRequest("an Upload-Metadata value is not UTF-8 text, which the gateway must read to pseudonymize")
			}
			p.value = string(raw)
		}
		out = append(out, p)
	}
	return out, nil
}

func formatMetadata(pairs []metaPair) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.key)
		if p.hasValue {
			b.WriteByte(' ')
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(p.value)))
		}
	}
	return b.String()
}

// pseudonymizeMetadata returns the Upload-Metadata to send upstream: file
// names as file names, other values as form fields of their key's name.
func (c *call) pseudonymizeMetadata(h string) (string, error) {
	pairs, err := parseMetadata(h)
	if err != nil || len(pairs) == 0 {
		return "", err
	}
	before := c.x.Counts().Total()
	fields := url.Values{}
	for _, p := range pairs {
		if p.hasValue && p.value != "" && !filenameKeys[p.key] {
			fields.Set(p.key, p.value)
		}
	}
	if len(fields) > 0 {
		q, counts, err := c.x.Pseudonymizer.PseudonymizeQuery(c.ctx(), fields)
		if err != nil {
			return "", c.pseudonymError(err)
		}
		c.x.AddCounts(counts)
		fields = q
	}
	for i := range pairs {
		p := &pairs[i]
		switch {
		case !p.hasValue || p.value == "":
		case filenameKeys[p.key]:
			pn, err := c.x.PseudonymizeFilename(c.ctx(), p.value)
			if err != nil {
				return "", err
			}
			p.value = pn
		default:
			p.value = fields.Get(p.key)
		}
	}
	if c.x.Counts().Total() > before {
		c.x.Pseudonymized()
	}
	return formatMetadata(pairs), nil
}

func (c *call) pseudonymError(err error) error {
	if c.x.Pseudonymizer == nil {
		return &Error{Status: 503, Msg: "pseudonymization is not available on this gateway, so nothing was sent"}
	}
	return &Error{Status: 503, Msg: "Upload-Metadata could not be pseudonymized (keys or re-identification store unavailable), so nothing was sent", Cause: err}
}

// reidentifyMetadata puts the originals back into the provider's
// Upload-Metadata, for users with the reidentify right; others see the
// tokens. A value that cannot be read is left as the provider sent it.
func (c *call) reidentifyMetadata(h string) string {
	if !c.x.User.Can(gateway.RightReidentify) || c.x.Pseudonymizer == nil {
		return h
	}
	pairs, err := parseMetadata(h)
	if err != nil {
		return h
	}
	for i := range pairs {
		p := &pairs[i]
		if !p.hasValue || !strings.Contains(p.value, pseudonym.TokenPrefix) {
			continue
		}
		v, counts, err := c.x.Pseudonymizer.ReidentifyString(c.ctx(), pseudonym.FormatText, p.value)
		if err != nil {
			c.x.Log.Debug().Err(err).Msg("tus metadata not re-identified")
			return h
		}
		c.x.AddCounts(counts)
		p.value = v
	}
	return formatMetadata(pairs)
}
