# sluss-operator: what a person or job that creates and rotates sluss keys may
# do in Vault (KV v2 mount "secret", prefix "sluss/").
#
# Writing a key again adds a version, which is how rotation works; old versions
# stay readable so that data encrypted under them can still be decrypted.
# Deleting or destroying versions is deliberately not granted: losing a key
# loses every object encrypted under it, so that is left to a Vault admin.

path "secret/data/sluss/*" {
  capabilities = ["create", "update", "read"]
}

# Version history, custom metadata, max_versions and cas_required, and listing
# which keys exist.
path "secret/metadata/sluss/*" {
  capabilities = ["create", "update", "read", "list"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}
