package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/keys"
)

// TestExampleConfig: the documented example configuration parses strictly
// and gives the documented defaults.
func TestExampleConfig(t *testing.T) {
	fc, err := loadConfig(filepath.Join("..", "..", "deploy", "sluss.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	k := fc.Keys
	if k.DataDir != keys.DefaultDataDir || k.RefreshInterval != time.Minute || k.MaxStaleness != 15*time.Minute || k.UsesVault() {
		t.Fatalf("example keys section: %+v", k)
	}
	k.DataDir = t.TempDir()
	a, err := keys.OpenAdmin(context.Background(), k, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}
