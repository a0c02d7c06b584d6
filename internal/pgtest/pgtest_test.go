package pgtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServer: the URL logs in as sluss with its password, a stopped server
// refuses connections, a started one takes them again on the same URL and
// keeps its data, and Dump shows it.
func TestServer(t *testing.T) {
	s := Start(t)
	exec := func(q string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.URL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, q)
		return err
	}
	if err := exec("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still-here')"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL, "postgres://sluss:") || !strings.Contains(s.URL, "@127.0.0.1:") {
		t.Errorf("URL %s", s.URL)
	}
	wrong := strings.Replace(s.URL, "sluss:", "sluss:x", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, wrong); err == nil {
		conn.Close(ctx)
		t.Error("a wrong password logged in")
	}
	s.Stop()
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("a stopped server answered")
	}
	s.Start()
	if err := exec("SELECT 1"); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	if d := s.Dump(t); !strings.Contains(d, "still-here") {
		t.Errorf("dump lacks the table's row:\n%s", d)
	}
	other := s.NewDatabase(t)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	conn, err := pgx.Connect(ctx2, other)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx2)
	if _, err := conn.Exec(ctx2, "CREATE TABLE mine (v int)"); err != nil {
		t.Errorf("sluss cannot create a table in its new database: %v", err)
	}
}
