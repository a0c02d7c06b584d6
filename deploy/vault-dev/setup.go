package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/helper/namespace"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/vault"
)

// setUp does what `vault server -dev` does after creating the core:
// initialise with a single key share, unseal, swap the generated root token
// for the requested one, mount KV v2 at secret/, and enable AppRole.
func setUp(ctx context.Context, core *vault.Core, rootToken string) error {
	ctx = namespace.ContextWithNamespace(ctx, namespace.RootNamespace)

	init, err := core.Initialize(ctx, &vault.InitParams{
		BarrierConfig: &vault.SealConfig{
			Type:            vault.SealConfigTypeShamir.String(),
			SecretShares:    1,
			SecretThreshold: 1,
		},
		RecoveryConfig: nil,
	})
	if err != nil {
		return fmt.Errorf("failed to initialise: %w", err)
	}
	unsealed, err := core.Unseal(init.SecretShares[0])
	if err != nil {
		return fmt.Errorf("failed to unseal: %w", err)
	}
	if !unsealed {
		return errors.New("failed to unseal: still sealed after the only key share")
	}

	auth, err := request(ctx, core, init.RootToken, logical.UpdateOperation, "auth/token/create", map[string]interface{}{
		"id":                rootToken,
		"policies":          []string{"root"},
		"no_parent":         true,
		"no_default_policy": true,
	})
	if err != nil {
		return fmt.Errorf("failed to create the root token: %w", err)
	}
	if auth.Auth == nil {
		return errors.New("failed to create the root token: no auth in response")
	}
	if _, err := request(ctx, core, init.RootToken, logical.UpdateOperation, "auth/token/revoke-self", nil); err != nil {
		return fmt.Errorf("failed to revoke the generated root token: %w", err)
	}
	root := auth.Auth.ClientToken

	if _, err := request(ctx, core, root, logical.UpdateOperation, "sys/mounts/secret", map[string]interface{}{
		"type":        "kv",
		"description": "key/value secret storage (KV v2)",
		"options":     map[string]string{"version": "2"},
	}); err != nil {
		return fmt.Errorf("failed to mount KV v2 at secret/: %w", err)
	}
	if _, err := request(ctx, core, root, logical.UpdateOperation, "sys/auth/approle", map[string]interface{}{
		"type": "approle",
	}); err != nil {
		return fmt.Errorf("failed to enable AppRole at auth/approle: %w", err)
	}
	return waitForKV(ctx, core, root)
}

// waitForKV waits until the KV v2 engine has finished its upgrade step:
// until then it answers every request with an error.
func waitForKV(ctx context.Context, core *vault.Core, root string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := request(ctx, core, root, logical.ReadOperation, "secret/config", nil)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("KV v2 at secret/ did not become ready: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// request sends one request straight to the core, folding an error response
// into the error.
func request(ctx context.Context, core *vault.Core, token string, op logical.Operation, path string, data map[string]interface{}) (*logical.Response, error) {
	resp, err := core.HandleRequest(ctx, &logical.Request{
		Operation:   op,
		ClientToken: token,
		Path:        path,
		Data:        data,
	})
	if err != nil {
		return nil, err
	}
	if resp.IsError() {
		return nil, resp.Error()
	}
	return resp, nil
}
