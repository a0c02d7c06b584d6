// Command vault-dev runs a real HashiCorp Vault server in memory, for tests
// and development only.
//
// It is built from Vault's own packages (the core, its HTTP handler, the KV v2
// secrets engine and AppRole auth), initialised and unsealed at start, with the
// root token given on the command line. Nothing is persisted: when the process
// exits every secret is gone.
//
//	vault-dev -addr 127.0.0.1:0 -root-token TOKEN
//
// When the server is ready it prints one line to stdout,
//
//	vault-dev listening on http://127.0.0.1:PORT
//
// and serves until SIGTERM or SIGINT. KV version 2 is mounted at secret/ and
// AppRole is enabled at auth/approle.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/builtin/credential/approle"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/internalshared/configutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/physical/inmem"
	"github.com/hashicorp/vault/vault"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8200", "loopback `address` to listen on (port 0 picks a free port)")
	rootToken := flag.String("root-token", "", "`ID` of the root token (required)")
	logLevel := flag.String("log-level", "warn", "Vault log `level`: trace, debug, info, warn or error")
	flag.Parse()

	if err := run(*addr, *rootToken, *logLevel); err != nil {
		fmt.Fprintf(os.Stderr, "vault-dev: %v\n", err)
		os.Exit(1)
	}
}

func run(addr, rootToken, logLevel string) error {
	if rootToken == "" {
		return errors.New("-root-token is required")
	}
	if err := checkLoopback(addr); err != nil {
		return err
	}

	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "vault-dev",
		Level:  hclog.LevelFromString(logLevel),
		Output: os.Stderr,
	})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	core, err := newCore(logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := core.Shutdown(); err != nil {
			logger.Error("core shutdown failed", "error", err)
		}
	}()

	if err := setUp(ctx, core, rootToken); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen: %w", err)
	}
	server := &http.Server{
		Handler: vaulthttp.Handler.Handler(&vault.HandlerProperties{
			Core: core,
			ListenerConfig: &configutil.Listener{
				Type:       "tcp",
				Address:    ln.Addr().String(),
				TLSDisable: true,
			},
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger.StandardLogger(nil),
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()

	// The one line on stdout that tells a waiting test the server is ready.
	fmt.Printf("vault-dev listening on http://%s\n", ln.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("HTTP server stopped: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		logger.Warn("HTTP shutdown did not finish cleanly", "error", err)
	}
	return nil
}

// checkLoopback refuses anything but a loopback address: this server speaks
// plain HTTP and its root token is on the command line.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid -addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("invalid -addr %q: only loopback addresses are allowed", addr)
	}
	return nil
}

// newCore builds a sealed, uninitialised core on in-memory storage that knows
// only the engines this server offers.
func newCore(logger hclog.Logger) (*vault.Core, error) {
	physical, err := inmem.NewInmem(nil, logger.Named("storage"))
	if err != nil {
		return nil, fmt.Errorf("failed to create in-memory storage: %w", err)
	}
	core, err := vault.NewCore(&vault.CoreConfig{
		Physical:           physical,
		StorageType:        "inmem",
		Logger:             logger,
		LogLevel:           logger.GetLevel().String(),
		DisableMlock:       true,
		LogicalBackends:    map[string]logical.Factory{"kv": kv.Factory},
		CredentialBackends: map[string]logical.Factory{"approle": approle.Factory},
		BuiltinRegistry:    builtins{},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create Vault core: %w", err)
	}
	return core, nil
}
