package gateway

import (
	"errors"
	"testing"
)

// guard turns a transformer's panic into an error of its exchange, and
// passes the transformer's own error through.
func TestGuard(t *testing.T) {
	if err := guard(func() error { panic("index out of range") }); !errors.Is(err, errTransformPanic) {
		t.Fatalf("guard(panic) = %v, want errTransformPanic", err)
	}
	want := errors.New("malformed")
	if err := guard(func() error { return want }); err != want {
		t.Fatalf("guard(error) = %v, want %v", err, want)
	}
	if err := guard(func() error { return nil }); err != nil {
		t.Fatalf("guard(nil) = %v", err)
	}
	re, ok := pseudonymRefusal(errTransformPanic, "the request body").(*RefusedError)
	if !ok || re.Status != 500 || re.KeyFailure != "" {
		t.Fatalf("refusal of a panic: %#v", re)
	}
}
