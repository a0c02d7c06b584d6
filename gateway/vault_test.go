// Run alone with:
//
//	SLUSS_VAULT_DEV=$(deploy/vault-dev/build.sh) go test -run Vault ./gateway

package gateway

import (
	"testing"

	"github.com/sluss/sluss/internal/vaulttest"
	"github.com/sluss/sluss/keys"
)

// TestVaultKeyStore runs the key-store round trip with the keys in a real
// Vault (deploy/vault-dev) instead of the embedded store.
func TestVaultKeyStore(t *testing.T) {
	v := vaulttest.Start(t)
	st := openKeys(t, keys.Config{
		DataDir: t.TempDir(),
		Vault:   &keys.VaultConfig{Address: v.Addr, Auth: keys.VaultAuth{Token: keys.Secret(v.RootToken)}},
	})
	storeRoundTrip(t, st)
}
