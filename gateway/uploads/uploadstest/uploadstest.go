// Package uploadstest checks an uploads.Store against the Store contract,
// so every implementation (bbolt, PostgreSQL) is held to the same tests:
// call [Run] from the implementation's test.
package uploadstest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluss/sluss/gateway/uploads"
)

// Opener opens a handle onto one backing store under key. Each call is a
// new handle onto the same data; a test closes a handle before it opens
// the next.
type Opener func(key []byte) uploads.Store

// Run runs the contract tests; fresh returns an Opener onto a new, empty
// backing store for each subtest and removes it at the subtest's end.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	key := make([]byte, 32)
	ctx := context.Background()
	set := func(v string) func([]byte) ([]byte, error) {
		return func([]byte) ([]byte, error) { return []byte(v), nil }
	}

	t.Run("GetUpdateListDelete", func(t *testing.T) {
		s := fresh(t)(key)
		defer s.Close()
		if _, err := s.Get(ctx, "a"); !errors.Is(err, uploads.ErrNotFound) {
			t.Fatalf("Get of a missing key: %v", err)
		}
		for _, k := range []string{"up/2", "up/1/p/2", "up/1", "up/1/p/1", "up/10", "up0", "uq"} {
			if err := s.Update(ctx, k, time.Hour, set(k)); err != nil {
				t.Fatal(err)
			}
		}
		list := func(prefix string) []string {
			var keys []string
			err := s.List(ctx, prefix, func(k string, v []byte) error {
				if string(v) != k {
					t.Errorf("%s holds %q", k, v)
				}
				keys = append(keys, k)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return keys
		}
		for _, c := range []struct {
			prefix string
			want   []string
		}{
			{"up/1/", []string{"up/1/p/1", "up/1/p/2"}},
			{"up/1", []string{"up/1", "up/1/p/1", "up/1/p/2", "up/10"}},
			{"", []string{"up/1", "up/1/p/1", "up/1/p/2", "up/10", "up/2", "up0", "uq"}},
			{"nothing", nil},
		} {
			if got := list(c.prefix); !slices.Equal(got, c.want) {
				t.Errorf("List(%q) = %v, want %v", c.prefix, got, c.want)
			}
		}
		stop := errors.New("stop")
		if err := s.List(ctx, "up/", func(string, []byte) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("List did not return fn's error: %v", err)
		}
		if err := s.DeletePrefix(ctx, "up/1"); err != nil {
			t.Fatal(err)
		}
		if got := list(""); !slices.Equal(got, []string{"up/2", "up0", "uq"}) {
			t.Errorf("after DeletePrefix(up/1): %v", got)
		}
		// An error from fn changes nothing; nil deletes.
		boom := errors.New("boom")
		if err := s.Update(ctx, "up/2", time.Hour, func([]byte) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if v, _ := s.Get(ctx, "up/2"); string(v) != "up/2" {
			t.Fatal("a failed update changed the value")
		}
		if err := s.Update(ctx, "up/2", time.Hour, func(old []byte) ([]byte, error) {
			if string(old) != "up/2" {
				t.Errorf("fn was given %q", old)
			}
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "up/2"); !errors.Is(err, uploads.ErrNotFound) {
			t.Fatal("returning nil did not delete")
		}
		if err := s.Update(ctx, "never", time.Hour, func([]byte) ([]byte, error) { return nil, nil }); err != nil {
			t.Errorf("deleting a missing key: %v", err)
		}
	})

	t.Run("NonASCIIPrefix", func(t *testing.T) {
		s := fresh(t)(key)
		defer s.Close()
		keys := []string{"ö/1", "ö/2", "öa", "ø", "\U0010FFFF/a", "\U0010FFFF\U0010FFFF"}
		for _, k := range keys {
			if err := s.Update(ctx, k, time.Hour, set(k)); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			prefix string
			want   []string
		}{
			{"ö", []string{"ö/1", "ö/2", "öa"}},
			{"\U0010FFFF", []string{"\U0010FFFF/a", "\U0010FFFF\U0010FFFF"}},
		} {
			var got []string
			s.List(ctx, c.prefix, func(k string, _ []byte) error { got = append(got, k); return nil })
			if !slices.Equal(got, c.want) {
				t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
			}
		}
	})

	t.Run("ExpiresAndSweeps", func(t *testing.T) {
		s := fresh(t)(key)
		defer s.Close()
		s.Update(ctx, "old", -time.Minute, set("x"))
		s.Update(ctx, "new", time.Hour, set("y"))
		if _, err := s.Get(ctx, "old"); !errors.Is(err, uploads.ErrNotFound) {
			t.Fatalf("an expired key is still there: %v", err)
		}
		var listed []string
		s.List(ctx, "", func(k string, _ []byte) error { listed = append(listed, k); return nil })
		if !slices.Equal(listed, []string{"new"}) {
			t.Errorf("List shows %v", listed)
		}
		if n, err := s.Sweep(ctx); err != nil || n != 1 {
			t.Fatalf("Sweep: %d, %v", n, err)
		}
		if _, err := s.Get(ctx, "new"); err != nil {
			t.Fatal(err)
		}
		s.Update(ctx, "old", -time.Minute, set("x"))
		s.Update(ctx, "old", time.Hour, func(old []byte) ([]byte, error) {
			if old != nil {
				t.Errorf("Update gave fn an expired value %q", old)
			}
			return []byte("z"), nil
		})
		if v, _ := s.Get(ctx, "old"); string(v) != "z" {
			t.Errorf("an expired key updated: %q", v)
		}
	})

	t.Run("SerializesUpdates", func(t *testing.T) {
		s := fresh(t)(key)
		defer s.Close()
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Update(ctx, "n", time.Hour, func(old []byte) ([]byte, error) { return append(old, 'x'), nil }); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if v, _ := s.Get(ctx, "n"); len(v) != 20 {
			t.Fatalf("%d of 20 updates kept", len(v))
		}
	})

	t.Run("RefusesAnotherKey", func(t *testing.T) {
		open := fresh(t)
		s := open(key)
		s.Update(ctx, "k", time.Hour, set("secret-value"))
		s.Close()
		s = open(key)
		if v, err := s.Get(ctx, "k"); err != nil || string(v) != "secret-value" {
			t.Fatalf("after reopening: %q, %v", v, err)
		}
		s.Close()
		other := bytes.Repeat([]byte{1}, 32)
		s = open(other)
		defer s.Close()
		_, err := s.Get(ctx, "k")
		if err == nil || errors.Is(err, uploads.ErrNotFound) {
			t.Fatalf("a record sealed under another key opened: %v", err)
		}
		if bytes.Contains([]byte(err.Error()), []byte("secret")) {
			t.Errorf("the error shows the value: %v", err)
		}
	})
}
