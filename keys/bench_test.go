package keys

import (
	"context"
	"testing"
)

// The hot path is a memory read: these run in tens of nanoseconds.

func benchStore(b *testing.B) *cachedStore {
	b.StopTimer()
	dir := b.TempDir()
	cfg := Config{DataDir: dir}
	a, err := OpenAdmin(context.Background(), cfg, quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	for range 3 {
		a.RotateIdentity(context.Background())
	}
	registerSecrets(b, newFileBackend(dir), DefaultHMACDomains)
	st, err := Open(context.Background(), cfg, quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	b.StartTimer()
	return st.(*cachedStore)
}

func BenchmarkEncryption(b *testing.B) {
	st := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		enc, err := st.Encryption()
		if err != nil || enc.Region == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptionRecipients(b *testing.B) {
	st := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		enc, _ := st.Encryption()
		if len(enc.Recipients()) != 1 {
			b.Fatal()
		}
	}
}

func BenchmarkIdentityByVersion(b *testing.B) {
	st := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Identity(2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIdentities(b *testing.B) {
	st := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if ids, err := st.Identities(); err != nil || len(ids) != 4 {
			b.Fatal(err)
		}
	}
}

func BenchmarkCurrentHMACKey(b *testing.B) {
	st := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := st.CurrentHMACKey("pnr"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptionParallel(b *testing.B) {
	st := benchStore(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := st.Encryption(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
