package pseudonym_test

import (
	"path/filepath"
	"testing"

	"github.com/sluss/sluss/pseudonym"
	"github.com/sluss/sluss/pseudonym/storetest"
)

func TestBoltStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), pseudonym.StoreFile)
		return func(key []byte) pseudonym.Store {
			s, err := pseudonym.OpenBoltStore(path, key)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}
