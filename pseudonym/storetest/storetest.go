// Package storetest checks a pseudonym.Store against the Store contract,
// so every implementation (bbolt, PostgreSQL) is held to the same tests:
// call [Run] from the implementation's test.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluss/sluss/pseudonym"
)

// Opener opens a handle onto one backing store under key. Each call is a
// new handle onto the same data (as after a restart, or as a second
// gateway holds); a test closes a handle before it opens the next.
type Opener func(key []byte) pseudonym.Store

// Run runs the contract tests; fresh returns an Opener onto a new, empty
// backing store for each subtest and removes it at the subtest's end.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	key := bytes.Repeat([]byte{7}, 32)
	ctx := context.Background()
	get := func(t *testing.T, s pseudonym.Store, token, want string) {
		t.Helper()
		v, err := s.Get(ctx, token)
		if err != nil || string(v) != want {
			t.Errorf("Get(%s) = %q, %v; want %q", token, v, err, want)
		}
	}

	t.Run("PutGet", func(t *testing.T) {
		s := fresh(t)(key)
		defer s.Close()
		if _, err := s.Get(ctx, "pnr1_missing"); !errors.Is(err, pseudonym.ErrNotFound) {
			t.Fatalf("Get of a missing token: %v", err)
		}
		entries := []pseudonym.Entry{
			{Token: "pnr1_a", Value: []byte("197001011234")},
			{Token: "name1_b", Value: []byte("Åsa Öberg")},
			{Token: "bin1_c", Value: []byte{0, 1, 2, 255}},
		}
		if err := s.Put(ctx, entries...); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			get(t, s, e.Token, string(e.Value))
		}
		v, _ := s.Get(ctx, "pnr1_a")
		if len(v) > 0 {
			v[0] = 'X' // the caller owns what Get returns
		}
		get(t, s, "pnr1_a", "197001011234")
		if err := s.Put(ctx); err != nil {
			t.Errorf("an empty Put: %v", err)
		}
	})

	t.Run("IdempotentAndCollision", func(t *testing.T) {
		s := fresh(t)(key)
		defer s.Close()
		e := pseudonym.Entry{Token: "pnr1_x", Value: []byte("197001011234")}
		for range 2 {
			if err := s.Put(ctx, e); err != nil {
				t.Fatalf("putting an entry again: %v", err)
			}
		}
		err := s.Put(ctx, pseudonym.Entry{Token: "pnr1_new", Value: []byte("v")}, pseudonym.Entry{Token: "pnr1_x", Value: []byte("198001011234")})
		if !errors.Is(err, pseudonym.ErrCollision) {
			t.Fatalf("a token bound to another value: %v", err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("1234")) {
			t.Errorf("the collision error shows a value: %v", err)
		}
		if _, err := s.Get(ctx, "pnr1_new"); !errors.Is(err, pseudonym.ErrNotFound) {
			t.Errorf("a refused batch stored part of itself: %v", err)
		}
		get(t, s, "pnr1_x", "197001011234")
	})

	t.Run("BatchCollision", func(t *testing.T) {
		s := fresh(t)(key)
		defer s.Close()
		for _, n := range []int{3, 5000} {
			batch := make([]pseudonym.Entry, n)
			for i := range batch {
				batch[i] = pseudonym.Entry{Token: fmt.Sprintf("t_%d_%d", n, i), Value: []byte("v")}
			}
			ok := append(batch, batch[n/2])
			if err := s.Put(ctx, ok...); err != nil {
				t.Errorf("%d entries, one repeated: %v", n, err)
			}
			dup := batch[n/2].Token + "x"
			bad := append(batch[:n:n], pseudonym.Entry{Token: dup, Value: []byte("v")}, pseudonym.Entry{Token: dup, Value: []byte("w")})
			if err := s.Put(ctx, bad...); !errors.Is(err, pseudonym.ErrCollision) {
				t.Errorf("%d entries, one token with two values: %v", n, err)
			}
			get(t, s, batch[n-1].Token, "v")
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		open := fresh(t)
		s := open(key)
		if err := s.Put(ctx, pseudonym.Entry{Token: "pnr1_kept", Value: []byte("197001011234")}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = open(key)
		get(t, s, "pnr1_kept", "197001011234")
		if err := s.Put(ctx, pseudonym.Entry{Token: "pnr1_kept", Value: []byte("198001011234")}); !errors.Is(err, pseudonym.ErrCollision) {
			t.Errorf("a collision with a stored token after reopening: %v", err)
		}
		s.Close()
		other := bytes.Repeat([]byte{8}, 32)
		s = open(other)
		defer s.Close()
		v, err := s.Get(ctx, "pnr1_kept")
		if err == nil || errors.Is(err, pseudonym.ErrNotFound) {
			t.Errorf("a value sealed under another key: %q, %v", v, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("1970")) {
			t.Errorf("the error shows the value: %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := fresh(t)(key)
		defer s.Close()
		batch := make([]pseudonym.Entry, 200)
		for i := range batch {
			batch[i] = pseudonym.Entry{Token: fmt.Sprintf("pnr1_%03d", i), Value: fmt.Appendf(nil, "19700101%04d", i)}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		won := make(chan int, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each goroutine its own order and a part of the batch.
				part := append([]pseudonym.Entry(nil), batch[g*10:]...)
				part = append(part, batch[:g*10]...)
				if err := s.Put(ctx, part...); err != nil {
					errs <- err
				}
				switch err := s.Put(ctx, pseudonym.Entry{Token: "pnr1_contested", Value: fmt.Appendf(nil, "%d", g)}); {
				case err == nil:
					won <- g
				case !errors.Is(err, pseudonym.ErrCollision):
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, e := range batch {
			get(t, s, e.Token, string(e.Value))
		}
		close(won)
		var winners []int
		for g := range won {
			winners = append(winners, g)
		}
		if len(winners) != 1 {
			t.Fatalf("goroutines %v all bound the contested token", winners)
		}
		get(t, s, "pnr1_contested", fmt.Sprint(winners[0]))
	})
}
