package keys_test

import (
	"github.com/sluss/sluss/keys"
	"github.com/sluss/sluss/pseudonym"
)

// The pseudonymizer takes its HMAC keys straight from a key store. The
// assertion lives in a test so that keys itself never imports pseudonym.
var _ pseudonym.KeySource = keys.Store(nil)
