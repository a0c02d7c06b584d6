package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "1K": 1 << 10, "64KiB": 64 << 10, "8M": 8 << 20, "8mib": 8 << 20, "1G": 1 << 30, "2KB": 2 << 10} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "K", "-1", "0", "1T", "x"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) accepted", in)
		}
	}
}

// TestBenchCommandLine checks the mistakes caught before anything starts.
func TestBenchCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"bench", "--size", "lots"}, 2, `--size: not a size: "lots"`},
		{[]string{"bench", "--proxy", "127.0.0.1:8080"}, 2, "--proxy and --proxy-ca go together"},
		{[]string{"bench", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"bench", "--scenario", "upload,nosuch"}, 1, `unknown scenario "nosuch"`},
		{[]string{"bench", "--mode", "teleport"}, 1, `unknown mode "teleport"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), &env{strings.NewReader(""), &stdout, &stderr, func(string) string { return "" }}, tc.args)
		if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("sluss %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}
