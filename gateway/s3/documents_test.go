package s3

import "testing"

// TestSingleRange: the ranges a re-identified document is cut by.
func TestSingleRange(t *testing.T) {
	for _, tt := range []struct {
		v        string
		size     int64
		from, to int64
		ok       bool
	}{
		{"bytes=0-9", 100, 0, 9, true},
		{"bytes=90-", 100, 90, 99, true},
		{"bytes=90-200", 100, 90, 99, true},
		{"bytes=-10", 100, 90, 99, true},
		{"bytes=-200", 100, 0, 99, true},
		{"bytes=100-", 100, 0, 0, false},
		{"bytes=9-3", 100, 0, 0, false},
		{"bytes=-0", 100, 0, 0, false},
		{"items=0-9", 100, 0, 0, false},
		{"bytes=0-1,5-6", 100, 0, 0, false},
		{"bytes=-5", 0, 0, 0, false},
	} {
		from, to, ok := singleRange(tt.v, tt.size)
		if ok != tt.ok || ok && (from != tt.from || to != tt.to) {
			t.Errorf("singleRange(%q, %d) = %d, %d, %v; want %d, %d, %v", tt.v, tt.size, from, to, ok, tt.from, tt.to, tt.ok)
		}
	}
}
