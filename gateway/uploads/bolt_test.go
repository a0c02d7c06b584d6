package uploads

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) *BoltStore {
	t.Helper()
	s, err := OpenBolt(filepath.Join(t.TempDir(), StoreFile), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBoltStore(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	set := func(v string) func([]byte) ([]byte, error) {
		return func([]byte) ([]byte, error) { return []byte(v), nil }
	}
	for _, k := range []string{"up/1", "up/1/p/1", "up/1/p/2", "up/2"} {
		if err := s.Update(ctx, k, time.Hour, set(k)); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	s.List(ctx, "up/1/", func(k string, v []byte) error {
		if string(v) != k {
			t.Errorf("%s holds %q", k, v)
		}
		keys = append(keys, k)
		return nil
	})
	if len(keys) != 2 {
		t.Fatalf("List up/1/: %v", keys)
	}
	if err := s.DeletePrefix(ctx, "up/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "up/1/p/2"); !errors.Is(err, ErrNotFound) {
		t.Fatal("DeletePrefix left a key")
	}
	if v, err := s.Get(ctx, "up/2"); err != nil || string(v) != "up/2" {
		t.Fatalf("DeletePrefix took another key: %q %v", v, err)
	}
	// An error from fn changes nothing; nil deletes.
	boom := errors.New("boom")
	if err := s.Update(ctx, "up/2", time.Hour, func([]byte) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if v, _ := s.Get(ctx, "up/2"); string(v) != "up/2" {
		t.Fatal("a failed update changed the value")
	}
	s.Update(ctx, "up/2", time.Hour, func([]byte) ([]byte, error) { return nil, nil })
	if _, err := s.Get(ctx, "up/2"); !errors.Is(err, ErrNotFound) {
		t.Fatal("returning nil did not delete")
	}
}

func TestBoltStoreExpiresAndSweeps(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Now()
	s.now = func() time.Time { return now }
	s.Update(ctx, "old", time.Minute, func([]byte) ([]byte, error) { return []byte("x"), nil })
	s.Update(ctx, "new", time.Hour, func([]byte) ([]byte, error) { return []byte("y"), nil })
	now = now.Add(2 * time.Minute)
	if _, err := s.Get(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Fatal("an expired key is still there")
	}
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep: %d, %v", n, err)
	}
	if _, err := s.Get(ctx, "new"); err != nil {
		t.Fatal(err)
	}
}

func TestBoltStoreSerializesUpdates(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Update(ctx, "n", time.Hour, func(old []byte) ([]byte, error) { return append(old, 'x'), nil })
		}()
	}
	wg.Wait()
	if v, _ := s.Get(ctx, "n"); len(v) != 20 {
		t.Fatalf("%d of 20 updates kept", len(v))
	}
}

func TestBoltStoreRefusesAnotherKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), StoreFile)
	s, _ := OpenBolt(path, make([]byte, 32))
	s.Update(ctx, "k", time.Hour, func([]byte) ([]byte, error) { return []byte("v"), nil })
	s.Close()
	key := make([]byte, 32)
	key[0] = 1
	s, _ = OpenBolt(path, key)
	defer s.Close()
	if _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("a record sealed under another key opened: %v", err)
	}
}
