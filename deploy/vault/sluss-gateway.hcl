# sluss-gateway: what a running gateway may do in Vault.
#
# Read-only on the sluss keys (KV v2 mount "secret", prefix "sluss/"), and
# enough to look up and renew its own token. It cannot write, delete, list or
# read anything else: rotation and administration belong to sluss-operator.

path "secret/data/sluss/*" {
  capabilities = ["read"]
}

path "secret/metadata/sluss/*" {
  capabilities = ["read"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}
