package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluss/sluss/internal/pgtest"
)

// TestDBExportImport: a region that started with one gateway (bbolt)
// moves its mappings to PostgreSQL and back; count and checksum match,
// and text pseudonymized before the move is re-identified after it.
func TestDBExportImport(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "pg.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("keys:\n  data_dir: %s\nstore:\n  postgres_url: %s\n", data, pg.URL)), 0o600)
	sluss := func(stdin string, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
		if code := run(context.Background(), e, args); code != 0 {
			t.Fatalf("sluss %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
		}
		return out.String(), errb.String()
	}
	var text strings.Builder
	for i := range 50 {
		fmt.Fprintf(&text, "Patient %s ringde.\n", testPersonnummer(i))
	}
	pseudo, _ := sluss(text.String(), "pseudonymize", "--data-dir", data)
	if strings.Contains(pseudo, testPersonnummer(0)) {
		t.Fatal("pseudonymize left a personnummer")
	}
	sumRE := regexp.MustCompile(`(\d+) mappings, checksum ([0-9a-f]{64})`)
	export := filepath.Join(dir, "mappings.jsonl")
	_, msg := sluss("", "db", "export", "--from", "bbolt", "--data-dir", data, "-o", export)
	exported := sumRE.FindStringSubmatch(msg)
	if exported == nil || exported[1] != "50" {
		t.Fatalf("export: %s", msg)
	}
	if b, _ := os.ReadFile(export); bytes.Contains(b, []byte(testPersonnummer(0)[2:8])) {
		t.Fatal("the export holds a personnummer in the clear")
	}
	_, msg = sluss("", "db", "import", "--config", cfg, export)
	if imported := sumRE.FindStringSubmatch(msg); imported == nil || imported[0] != exported[0] {
		t.Fatalf("import into PostgreSQL: %s, want %s", msg, exported[0])
	}
	// Without the bbolt file, the configured store (PostgreSQL) re-identifies.
	os.Remove(filepath.Join(data, "pseudonyms.db"))
	back, _ := sluss(pseudo, "reidentify", "--config", cfg)
	if back != text.String() {
		t.Fatalf("re-identified through PostgreSQL:\n%s", back)
	}
	// And back to bbolt.
	_, msg = sluss("", "db", "export", "--config", cfg, "-o", export)
	if again := sumRE.FindStringSubmatch(msg); again == nil || again[0] != exported[0] {
		t.Fatalf("export from PostgreSQL: %s, want %s", msg, exported[0])
	}
	_, msg = sluss("", "db", "import", "--to", "bbolt", "--data-dir", data, export)
	if imported := sumRE.FindStringSubmatch(msg); imported == nil || imported[0] != exported[0] {
		t.Fatalf("import into bbolt: %s", msg)
	}
	back, _ = sluss(pseudo, "reidentify", "--data-dir", data)
	if back != text.String() {
		t.Fatal("re-identified through bbolt after the move back differs")
	}
	// A file sealed under another region's key is refused.
	other := filepath.Join(dir, "other")
	sluss("", "keys", "init", "--data-dir", other)
	var errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb, getenv: func(string) string { return "" }}
	if code := run(context.Background(), e, []string{"db", "import", "--to", "bbolt", "--data-dir", other, export}); code == 0 || !strings.Contains(errb.String(), "another re-identification key") {
		t.Errorf("import under another key: exit %d, %s", code, errb.String())
	}
}
