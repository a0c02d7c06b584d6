package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluss/sluss/gateway/uploads"
	"github.com/sluss/sluss/gateway/uploads/uploadstest"
	"github.com/sluss/sluss/internal/pgtest"
	"github.com/sluss/sluss/pseudonym"
	"github.com/sluss/sluss/pseudonym/storetest"
)

var testKey = bytes.Repeat([]byte{42}, 32)

// openDB opens and migrates a DB on url, closed at the end of the test.
func openDB(t *testing.T, url string, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func pseudonyms(t *testing.T, db *DB) pseudonym.Store {
	t.Helper()
	s, err := db.PseudonymStore(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func uploadState(t *testing.T, db *DB) uploads.Store {
	t.Helper()
	s, err := db.UploadStore(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPseudonymStoreContract(t *testing.T) {
	srv := pgtest.Start(t)
	for _, c := range []struct {
		name  string
		cache int
	}{{"cached", 0}, {"uncached", -1}, {"tiny cache", 3}} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Opener {
				db := openDB(t, srv.NewDatabase(t), Options{CacheSize: c.cache})
				return func(key []byte) pseudonym.Store {
					s, err := db.PseudonymStore(key)
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
			})
		})
	}
}

func TestUploadStoreContract(t *testing.T) {
	srv := pgtest.Start(t)
	uploadstest.Run(t, func(t *testing.T) uploadstest.Opener {
		db := openDB(t, srv.NewDatabase(t), Options{})
		return func(key []byte) uploads.Store {
			s, err := db.UploadStore(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestTwoGateways: two DBs on one database, as two gateways hold them,
// put the same tokens at once and contest one; each re-identifies what the
// other stored; counters updated from both lose no increment.
func TestTwoGateways(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	a, b := openDB(t, srv.URL, Options{}), openDB(t, srv.URL, Options{})
	stores := []pseudonym.Store{pseudonyms(t, a), pseudonyms(t, b)}

	batch := make([]pseudonym.Entry, 500)
	for i := range batch {
		batch[i] = pseudonym.Entry{Token: fmt.Sprintf("pnr1_%04d", i), Value: fmt.Appendf(nil, "19800101%04d", i)}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for g := range 8 {
		s := stores[g%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 5 {
				// Overlapping slices in different orders.
				part := append([]pseudonym.Entry(nil), batch[(g*37+round*11)%len(batch):]...)
				if err := s.Put(ctx, part...); err != nil {
					t.Errorf("gateway %d: %v", g%2, err)
				}
			}
			switch err := s.Put(ctx, pseudonym.Entry{Token: "pnr1_contested", Value: fmt.Appendf(nil, "%d", g)}); {
			case err == nil:
				mu.Lock()
				winners++
				mu.Unlock()
			case !errors.Is(err, pseudonym.ErrCollision):
				t.Errorf("contested token: %v", err)
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Errorf("%d goroutines bound the contested token", winners)
	}
	if err := stores[0].Put(ctx, batch[:250]...); err != nil {
		t.Fatal(err)
	}
	// What a stored on its own, b re-identifies.
	if err := stores[0].Put(ctx, pseudonym.Entry{Token: "name1_only_a", Value: []byte("Märta Lind")}); err != nil {
		t.Fatal(err)
	}
	if v, err := stores[1].Get(ctx, "name1_only_a"); err != nil || string(v) != "Märta Lind" {
		t.Errorf("b re-identified %q, %v", v, err)
	}
	for _, e := range batch {
		for i, s := range stores {
			if v, err := s.Get(ctx, e.Token); err != nil || !bytes.Equal(v, e.Value) {
				t.Fatalf("gateway %d: Get(%s) = %q, %v", i, e.Token, v, err)
			}
		}
	}

	counters := []uploads.Store{uploadState(t, a), uploadState(t, b)}
	for g := range 10 {
		s := counters[g%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				err := s.Update(ctx, "counter", time.Hour, func(old []byte) ([]byte, error) {
					return append(bytes.Clone(old), 'x'), nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i, s := range counters {
		if v, err := s.Get(ctx, "counter"); err != nil || len(v) != 100 {
			t.Errorf("gateway %d sees %d of 100 increments, %v", i, len(v), err)
		}
	}
}

// TestMigrateConcurrently: three gateways migrating one empty database at
// once all succeed and each migration is applied once.
func TestMigrateConcurrently(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var dbs []*DB
	for range 3 {
		db, err := Open(ctx, srv.URL, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	if v, err := dbs[0].Version(ctx); err != nil || v != 0 {
		t.Fatalf("version of an empty database: %d, %v", v, err)
	}
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Migrate(ctx); err != nil {
				t.Errorf("gateway %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	var applied int
	if err := dbs[0].pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(ms) {
		t.Errorf("%d migrations recorded, %d embedded", applied, len(ms))
	}
	if v, err := dbs[1].Version(ctx); err != nil || v != ms[len(ms)-1].version {
		t.Errorf("version %d, %v; want %d", v, err, ms[len(ms)-1].version)
	}
	if err := dbs[2].Migrate(ctx); err != nil {
		t.Errorf("migrating a current database: %v", err)
	}
}

// TestDumpHoldsNoValue: pg_dump of a database holding personnummer, names
// and upload state shows their tokens and keys but none of the values, in
// text or in bytea hex.
func TestDumpHoldsNoValue(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	db := openDB(t, srv.URL, Options{})
	values := []string{"197001011234", "19800101-5678", "Ingrid Bergström", "Karl-Johan Svensson"}
	var entries []pseudonym.Entry
	for i, v := range values {
		entries = append(entries, pseudonym.Entry{Token: fmt.Sprintf("tok1_%d", i), Value: []byte(v)})
	}
	if err := pseudonyms(t, db).Put(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	up := uploadState(t, db)
	for i, v := range values {
		if err := up.Update(ctx, fmt.Sprintf("s3/upload%d", i), time.Hour, func([]byte) ([]byte, error) {
			return []byte(`{"file_key":"` + v + `"}`), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	dump := srv.Dump(t)
	for _, want := range []string{"tok1_3", "s3/upload3"} {
		if !strings.Contains(dump, want) {
			t.Fatalf("the dump lacks %s: it is not the dump of the data", want)
		}
	}
	lower := strings.ToLower(dump)
	for _, v := range append(values, "file_key") {
		for _, form := range []string{v, hex.EncodeToString([]byte(v))} {
			if strings.Contains(lower, strings.ToLower(form)) {
				t.Errorf("the dump holds %q", form)
			}
		}
	}
}

// TestOutage: with the database stopped every operation fails soon with
// an error (not ErrNotFound), and once it is back the same DB works again.
func TestOutage(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	db := openDB(t, srv.URL, Options{OpTimeout: 2 * time.Second, ConnectTimeout: time.Second, CacheSize: -1})
	ps, up := pseudonyms(t, db), uploadState(t, db)
	if err := ps.Put(ctx, pseudonym.Entry{Token: "pnr1_before", Value: []byte("197001011234")}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// In this order: after the outage, UploadGet reads what Update wrote.
	ops := []struct {
		name string
		op   func() error
	}{
		{"Ping", func() error { return db.Ping(ctx) }},
		{"Put", func() error { return ps.Put(ctx, pseudonym.Entry{Token: "pnr1_during", Value: []byte("198001011234")}) }},
		{"Get", func() error {
			_, err := ps.Get(ctx, "pnr1_before")
			return err
		}},
		{"Update", func() error {
			return up.Update(ctx, "k", time.Hour, func([]byte) ([]byte, error) { return []byte("v"), nil })
		}},
		{"UploadGet", func() error {
			_, err := up.Get(ctx, "k")
			return err
		}},
	}
	for _, o := range ops {
		name := o.name
		start := time.Now()
		err := o.op()
		if err == nil || errors.Is(err, pseudonym.ErrNotFound) || errors.Is(err, uploads.ErrNotFound) {
			t.Errorf("%s with the database down: %v", name, err)
		}
		t.Logf("%s with the database down: %v after %v", name, err, time.Since(start).Round(time.Millisecond))
		// Far beyond the 2s deadline: only a hang fails this.
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
		if err != nil && strings.Contains(err.Error(), "1980") {
			t.Errorf("%s error shows a value: %v", name, err)
		}
	}
	srv.Start()
	for _, o := range ops {
		if err := o.op(); err != nil {
			t.Errorf("%s after the database returned: %v", o.name, err)
		}
	}
	if v, err := ps.Get(ctx, "pnr1_during"); err != nil || string(v) != "198001011234" {
		t.Errorf("after the outage: %q, %v", v, err)
	}
}

func TestOpenHidesPassword(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{
		"postgres://sluss:hunter2secret@127.0.0.1:1/sluss?sslmode=bogus",
		"postgres://sluss:hunter2secret@127.0.0.1:1/sluss?connect_timeout=x",
	} {
		_, err := Open(ctx, url, Options{})
		if err == nil {
			t.Errorf("Open(%s) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	db, err := Open(ctx, "postgres://sluss:hunter2secret@127.0.0.1:1/sluss?sslmode=disable", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(ctx); err == nil || strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("Ping of a closed port: %v", err)
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	c := newTokenCache(10)
	for i := range 100 {
		c.add(fmt.Sprint(i), []byte{byte(i)})
		if n := c.len(); n > 10 {
			t.Fatalf("%d entries in a cache of 10", n)
		}
	}
	if v, ok := c.get("99"); !ok || v[0] != 99 {
		t.Errorf("the newest entry: %v %v", v, ok)
	}
	if _, ok := c.get("0"); ok {
		t.Error("the oldest entry is still there")
	}
}

// TestGetReadsThroughCache: a token read once is answered from memory, so
// the database is not asked again.
func TestGetReadsThroughCache(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	db := openDB(t, srv.URL, Options{})
	s := pseudonyms(t, db)
	other := pseudonyms(t, db)
	if err := s.Put(ctx, pseudonym.Entry{Token: "pnr1_c", Value: []byte("197001011234")}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get(ctx, "pnr1_c"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, "DELETE FROM pseudonyms"); err != nil {
		t.Fatal(err)
	}
	if v, err := other.Get(ctx, "pnr1_c"); err != nil || string(v) != "197001011234" {
		t.Errorf("a cached token: %q, %v", v, err)
	}
	if _, err := pseudonyms(t, db).Get(ctx, "pnr1_c"); !errors.Is(err, pseudonym.ErrNotFound) {
		t.Errorf("a fresh store found a deleted row: %v", err)
	}
}

// TestSilentServerFailsFast: a server that accepts connections and never
// answers (a hung database, a dropped route) is an error within the
// deadlines, not a hang.
func TestSilentServerFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var held []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	ctx := context.Background()
	db, err := Open(ctx, "postgres://sluss:pw@"+l.Addr().String()+"/sluss?sslmode=disable", Options{ConnectTimeout: 500 * time.Millisecond, OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ps := pseudonyms(t, db)
	for name, op := range map[string]func() error{
		"Ping":    func() error { return db.Ping(ctx) },
		"Migrate": func() error { return db.Migrate(ctx) },
		"Put":     func() error { return ps.Put(ctx, pseudonym.Entry{Token: "t", Value: []byte("v")}) },
	} {
		start := time.Now()
		if err := op(); err == nil {
			t.Errorf("%s against a silent server succeeded", name)
		}
		// Far beyond the deadlines: only a hang fails this.
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
	}
}

// TestRecordsAreBboltRecords: a row holds what the bbolt stores hold for
// the same entry (their Sealers open it), so records can move between the
// two; the expiry column is the record's own.
func TestRecordsAreBboltRecords(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	db := openDB(t, srv.URL, Options{})
	if err := pseudonyms(t, db).Put(ctx, pseudonym.Entry{Token: "pnr1_m", Value: []byte("197001011234")}); err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	if err := db.pool.QueryRow(ctx, "SELECT sealed FROM pseudonyms WHERE token = 'pnr1_m'").Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	ps, _ := pseudonym.NewSealer(testKey)
	if v, err := ps.Open("pnr1_m", sealed); err != nil || string(v) != "197001011234" {
		t.Errorf("pseudonym.Sealer opened %q, %v", v, err)
	}

	if err := uploadState(t, db).Update(ctx, "s3/u", time.Hour, func([]byte) ([]byte, error) { return []byte("state"), nil }); err != nil {
		t.Fatal(err)
	}
	var expires int64
	if err := db.pool.QueryRow(ctx, "SELECT expires, sealed FROM upload_state WHERE key = 's3/u'").Scan(&expires, &sealed); err != nil {
		t.Fatal(err)
	}
	us, _ := uploads.NewSealer(testKey)
	if v, err := us.Open("s3/u", sealed, time.Now()); err != nil || string(v) != "state" {
		t.Errorf("uploads.Sealer opened %q, %v", v, err)
	}
	if e := int64(binary.BigEndian.Uint64(sealed)); e != expires {
		t.Errorf("expires column %d, record's expiry %d", expires, e)
	}
	if d := time.Until(time.Unix(expires, 0)); d < 59*time.Minute || d > time.Hour {
		t.Errorf("an hour's ttl expires in %v", d)
	}
}

func BenchmarkPut(b *testing.B) {
	srv := pgtest.Start(b)
	db, err := Open(context.Background(), srv.URL, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	s, _ := db.PseudonymStore(testKey)
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		batch := make([]pseudonym.Entry, 20) // a form post's identifiers
		for i := range batch {
			batch[i] = pseudonym.Entry{Token: fmt.Sprintf("pnr1_%09d", n), Value: fmt.Appendf(nil, "%012d", n)}
			n++
		}
		if err := s.Put(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	srv := pgtest.Start(b)
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		cache int
	}{{"warm", 0}, {"cold", -1}} {
		b.Run(c.name, func(b *testing.B) {
			db, err := Open(ctx, srv.URL, Options{CacheSize: c.cache})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			s, _ := db.PseudonymStore(testKey)
			if err := s.Put(ctx, pseudonym.Entry{Token: "pnr1_bench", Value: []byte("197001011234")}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.Get(ctx, "pnr1_bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
