package main

import (
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/builtin/credential/approle"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// builtins is the plugin registry of this server: KV and AppRole, nothing
// else. Vault's own registry (helper/builtinplugins) would link every engine
// Vault ships, some of which do not build against a published SDK.
type builtins struct{}

func (builtins) factory(name string, pluginType consts.PluginType) (logical.Factory, bool) {
	switch {
	case name == "kv" && pluginType == consts.PluginTypeSecrets:
		return kv.Factory, true
	case name == "approle" && pluginType == consts.PluginTypeCredential:
		return approle.Factory, true
	}
	return nil, false
}

func (b builtins) Contains(name string, pluginType consts.PluginType) bool {
	_, ok := b.factory(name, pluginType)
	return ok
}

func (b builtins) Get(name string, pluginType consts.PluginType) (func() (interface{}, error), bool) {
	f, ok := b.factory(name, pluginType)
	if !ok {
		return nil, false
	}
	return func() (interface{}, error) { return f, nil }, true
}

func (builtins) Keys(pluginType consts.PluginType) []string {
	switch pluginType {
	case consts.PluginTypeSecrets:
		return []string{"kv"}
	case consts.PluginTypeCredential:
		return []string{"approle"}
	}
	return nil
}

func (b builtins) DeprecationStatus(name string, pluginType consts.PluginType) (consts.DeprecationStatus, bool) {
	if b.Contains(name, pluginType) {
		return consts.Supported, true
	}
	return consts.Unknown, false
}

func (builtins) IsBuiltinEntPlugin(string, consts.PluginType) bool { return false }
