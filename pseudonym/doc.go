// Package pseudonym replaces personal identity numbers (personnummer,
// samordningsnummer) and names with keyed HMAC tokens, and puts the
// originals back for authorised callers.
//
// For most uses, make one Pseudonymizer with New and call Transform on a
// body (or Reader to wrap a request body as a stream) and Reidentify on a
// response:
//
//	store, _ := pseudonym.OpenBoltStore(filepath.Join(dataDir, pseudonym.StoreFile), storeKey)
//	p, _ := pseudonym.New(pseudonym.Config{}, keySource, store)
//	counts, err := p.Transform(ctx, pseudonym.FormatAuto, r, w)
//	counts, err = p.Reidentify(ctx, pseudonym.FormatJSON, r, w)
//
// Formats are auto, text, json, csv, form (ParseFormat reads the CLI's
// --format value; FormatFromContentType maps a Content-Type). URL paths,
// query strings and file names have their own methods: PseudonymizePath,
// PseudonymizeQuery, PseudonymizeRawQuery and PseudonymizeFilename.
// Config.NameFields (the CLI's --fields) lists the JSON keys, form fields and
// CSV headers whose whole value is a name.
//
// Keys come from a KeySource (the keys package implements it; StaticKeys is
// for tests). The way back lives in a Store: BoltStore, an encrypted bbolt
// file, or MemoryStore for tests. Tokens look like sl_pnr1a_… and
// sl_name1_…; see TokenPattern for the format and the collision bound. A
// personnummer that travels as a JSON number becomes a numeric token of the
// same length that is never a valid personnummer (its month is 00); see
// IsNumberToken. MayHoldToken tells a caller whether a response needs a
// re-identification pass at all. Segments serves callers that parse a
// structured document themselves (package document does, for office
// files): it reports replacements as spans of each piece, so that a
// token can go back into the markup the text came from.
//
// Everything streams with bounded memory; invalid input is a *SyntaxError
// with line and offset; errors and logs carry counts and token ids, never a
// personal value. Re-identification must be authorised and audited by the
// caller.
package pseudonym
