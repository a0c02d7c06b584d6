package uploads_test

import (
	"path/filepath"
	"testing"

	"github.com/sluss/sluss/gateway/uploads"
	"github.com/sluss/sluss/gateway/uploads/uploadstest"
)

func TestBoltStoreContract(t *testing.T) {
	uploadstest.Run(t, func(t *testing.T) uploadstest.Opener {
		path := filepath.Join(t.TempDir(), uploads.StoreFile)
		return func(key []byte) uploads.Store {
			s, err := uploads.OpenBolt(path, key)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}
