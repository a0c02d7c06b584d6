package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/hkdf"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/graph"
	"github.com/sluss/sluss/gateway/nextcloud"
	"github.com/sluss/sluss/gateway/s3"
	"github.com/sluss/sluss/gateway/tus"
	"github.com/sluss/sluss/gateway/uploads"
	"github.com/sluss/sluss/keys"
	"github.com/sluss/sluss/pseudonym"
)

// loadServe resolves the configuration, defaulting the data directory so
// start-up can say where the CA certificate is.
func loadServe(e *env, sf *storeFlags) (*fileConfig, error) {
	fc, err := sf.load(e)
	if err != nil {
		return nil, err
	}
	if fc.Keys.DataDir == "" {
		fc.Keys.DataDir = keys.DefaultDataDir
	}
	return fc, nil
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve", "[flags]")
	sf := addStoreFlags(fs)
	listen := fs.String("listen", "", "proxy `ADDR` (default 127.0.0.1:8080)")
	adminListen := fs.String("admin-listen", "", "admin `ADDR` for /healthz, /readyz, /metrics, /proxy.pac and the /v1/ API (default 127.0.0.1:8081)")
	var approve stringList
	fs.Var(&approve, "approve", "approve `HOSTPATTERN[=PROFILE]` (profile inspect, storage, webdav, form, documents, s3, tus, graph or nextcloud; default storage); repeatable")
	def := fs.String("default", "", "what unlisted hosts get: block (default) or tunnel")
	upstreamCA := fs.String("upstream-ca", "", "also trust the CA certificates in `FILE` for upstream TLS")
	users := fs.String("users", "", "authenticate clients against the bcrypt password `FILE` (name:hash lines)")
	auditLog := fs.String("audit-log", "", "append the audit log to `FILE` (default standard output; SIGHUP reopens it)")
	debug := fs.Bool("debug", false, "log diagnostics (never contents) to standard error")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	fc, err := loadServe(e, sf)
	if err != nil {
		return err
	}
	gc := fc.Gateway
	// Protocol adapters are profiles; their stores are set below, once
	// the key store is open.
	s3a := &s3.Adapter{}
	tusa := &tus.Adapter{}
	grapha := &graph.Adapter{}
	nca := &nextcloud.Adapter{}
	gc.Profiles = map[string]gateway.ProfileFunc{"s3": s3a.Profile, "tus": tusa.Profile, "graph": grapha.Profile, "nextcloud": nca.Profile}
	for _, a := range approve {
		if err := gc.Approve(a); err != nil {
			return usagef("--approve %s: %v", a, err)
		}
	}
	setIf := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setIf(&gc.Listen, *listen)
	setIf(&gc.AdminListen, *adminListen)
	setIf(&gc.Default, *def)
	setIf(&gc.UpstreamCA, *upstreamCA)
	setIf(&gc.UsersFile, *users)
	setIf(&gc.AuditLog, *auditLog)
	if gc.Listen == "" {
		gc.Listen = "127.0.0.1:8080"
	}
	if gc.AdminListen == "" {
		gc.AdminListen = "127.0.0.1:8081"
	}

	level := zerolog.InfoLevel
	if *debug {
		level = zerolog.DebugLevel
	}
	logger := zerolog.New(e.stderr).Level(level).With().Timestamp().Logger()

	store, err := openStore(ctx, fc.Keys, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	alog, closeAudit, err := openAuditLog(gc, e, store, logger)
	if err != nil {
		return err
	}
	defer closeAudit()
	ca, err := store.CA()
	if err != nil {
		return fmt.Errorf("no gateway CA: %w", err)
	}
	caPath := filepath.Join(fc.Keys.DataDir, "ca.pem")
	if err := os.MkdirAll(fc.Keys.DataDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(caPath, ca.CertPEM, 0o644); err != nil {
		return fmt.Errorf("failed to write the CA certificate: %w", err)
	}
	enc, err := store.Encryption()
	if err != nil {
		return err
	}

	// The re-identification store and the upload state: bbolt files
	// beside the keys, or PostgreSQL shared by every gateway. Their key
	// comes from the key store, so a stolen file or dump alone reveals
	// nothing.
	storeKey, err := store.ReidentificationKey()
	if err != nil {
		return fmt.Errorf("no re-identification key: %w", err)
	}
	shared, err := openSharedStores(ctx, e, fc, storeKey, logger)
	if err != nil {
		return err
	}
	defer shared.Close()
	pseudo, err := pseudonym.New(pseudonym.Config{Logger: &logger}, store, shared.pseudonyms)
	if err != nil {
		return err
	}
	ustore := shared.uploads
	var gwOpts []gateway.Option
	if shared.db != nil {
		gwOpts = append(gwOpts, gateway.WithReadyCheck("database", shared.db.Ping))
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep() // before the stores close
	go sweepUploads(sweepCtx, ustore, logger)
	s3a.State, s3a.Log = ustore, logger
	tusa.State, tusa.Keys, tusa.Log = ustore, gateway.FromStore(store), logger
	grapha.State, grapha.Log = ustore, logger
	nca.State, nca.Log = ustore, logger
	s3a.Credentials = func(id string) (s3.Credential, error) {
		c, err := store.S3Credential(id)
		if errors.Is(err, keys.ErrNotFound) {
			return s3.Credential{}, fmt.Errorf("%w", s3.ErrUnknownAccessKey)
		}
		if err != nil {
			return s3.Credential{}, err
		}
		return s3.Credential{AccessKeyID: c.AccessKeyID, Secret: c.Secret, User: c.User, Issued: c.Issued}, nil
	}

	gw, err := gateway.New(gc, gateway.FromStore(store), alog.Logger(), logger, append(gwOpts, gateway.WithPseudonymizer(pseudo), gateway.WithAuditLog(alog))...)
	if err != nil {
		return err
	}
	defer gw.Close()
	pl, err := net.Listen("tcp", gc.Listen)
	if err != nil {
		return err
	}
	if gc.UsersFile == "" && !gateway.IsLoopback(pl.Addr()) {
		pl.Close()
		return gateway.ErrNeedsUsers
	}
	al, err := net.Listen("tcp", gc.AdminListen)
	if err != nil {
		pl.Close()
		return err
	}
	gw.RegisterListener(pl.Addr())
	gw.RegisterListener(al.Addr())
	errc := make(chan error, 2)
	go func() { errc <- gw.Serve(pl) }()
	go func() { errc <- gw.ServeAdmin(al) }()

	proxyURL := "http://" + pl.Addr().String()
	clientsUse := proxyURL
	if gc.PACProxy != "" {
		// Behind a load balancer clients use its address, which the PAC
		// file names too; the listener above is this gateway's own.
		clientsUse = "http://" + gc.PACProxy + " (load balancer; /proxy.pac names it)"
	}
	fmt.Fprintf(e.stderr, `sluss gateway running
  proxy:      %s   (export https_proxy=%[1]s http_proxy=%[1]s)
  admin:      http://%s/healthz, /readyz, /metrics, /proxy.pac; API under /v1/ (/v1/openapi.yaml); services in use: /v1/services.html
  recipient:  %s (key version %d)
  CA:         %s
  trust it:   curl --cacert %[5]s …, or system-wide on Debian:
              cp %[5]s /usr/local/share/ca-certificates/sluss.crt && update-ca-certificates
  approved:   %d service(s); unlisted hosts: %s
  audit log:  %s, chain %s, checkpoints signed by key %s (sluss audit key)
`, proxyURL, al.Addr(), enc.Region, enc.Version, caPath, len(gc.Services), orDefault(gc.Default, "block"),
		orDefault(gc.AuditLog, "standard output"), alog.Chain(), alog.KeyFingerprint())
	if clientsUse != proxyURL {
		fmt.Fprintf(e.stderr, "  clients:    %s\n", clientsUse)
	}
	if err := alog.Err(); err != nil {
		fmt.Fprintf(e.stderr, "warning: %v: the gateway refuses requests until the audit log can be written\n", err)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = gw.Shutdown(sctx)
	if cerr := alog.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("failed to write the final audit checkpoint: %w", cerr)
	}
	return err
}

// openAuditLog starts the audit chain on the configured file (or standard
// output), with checkpoints signed by the key derived from the key store.
// For a file, SIGHUP reopens it after rotation; the returned func ends
// the chain and closes the file.
func openAuditLog(gc gateway.Config, e *env, store keys.Store, logger zerolog.Logger) (*gateway.AuditLog, func(), error) {
	key, err := gateway.AuditSigningKey(store)
	if err != nil {
		return nil, nil, err
	}
	node, _ := os.Hostname()
	opts := gateway.AuditOptions{Key: key, Interval: gc.AuditCheckpointInterval, Node: node, Log: &logger}
	path := gc.AuditLog
	if path == "" || path == "-" {
		alog, err := gateway.NewAuditLog(e.stdout, opts)
		if err != nil {
			return nil, nil, err
		}
		return alog, func() { alog.Close() }, nil
	}
	open := func() (*os.File, error) {
		return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	}
	f, err := open()
	if err != nil {
		return nil, nil, fmt.Errorf("failed to open audit log: %w", err)
	}
	alog, err := gateway.NewAuditLog(f, opts)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	// Rotation: logrotate renames the file and sends SIGHUP; the chain
	// ends the old file with a checkpoint and starts the new one with
	// another.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done, stopped := make(chan struct{}), make(chan struct{})
	var current io.Closer = f
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-hup:
				nf, err := open()
				if err != nil {
					logger.Error().Err(err).Msg("cannot reopen the audit log; still writing to the old file")
					continue
				}
				if _, err := alog.Rotate(nf); err != nil {
					logger.Error().Err(err).Msg("audit log rotation")
				}
				current.Close()
				current = nf
				logger.Info().Msg("audit log reopened")
			}
		}
	}()
	return alog, func() {
		signal.Stop(hup)
		close(done)
		<-stopped
		alog.Close()
		current.Close()
	}, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// openStore opens the key store; the embedded one is created on first use,
// so `sluss serve` works with no configuration at all.
func openStore(ctx context.Context, kc keys.Config, log zerolog.Logger) (keys.Store, error) {
	if !kc.UsesVault() {
		adm, err := keys.OpenAdmin(ctx, kc, log)
		if err != nil {
			return nil, err
		}
		_, err = adm.Init(ctx)
		adm.Close()
		if err != nil {
			return nil, fmt.Errorf("failed to create the embedded key store: %w", err)
		}
	}
	return keys.Open(ctx, kc, log)
}

func runCA(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ca export", "[--data-dir DIR | --config FILE]")
	sf := addStoreFlags(fs)
	if len(args) == 0 || args[0] != "export" {
		return usagef("usage: sluss ca export [--data-dir DIR | --config FILE]")
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	fc, err := loadServe(e, sf)
	if err != nil {
		return err
	}
	store, err := keys.Open(ctx, fc.Keys, cliLogger(e))
	if err != nil {
		return err
	}
	defer store.Close()
	ca, err := store.CA()
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(ca.CertPEM)
	return err
}

// uploadStateKey derives the upload-state store's key from the
// re-identification key, so that neither store's file opens with the
// other's key.
func uploadStateKey(reidentification []byte) []byte {
	k := make([]byte, 32)
	io.ReadFull(hkdf.New(sha256.New, reidentification, nil, []byte("sluss upload state v1")), k)
	return k
}

// sweepUploads removes expired upload state (abandoned uploads) at start
// and every hour.
func sweepUploads(ctx context.Context, s uploads.Store, log zerolog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil {
			log.Warn().Err(err).Msg("upload state sweep failed")
		} else if n > 0 {
			log.Info().Int("removed", n).Msg("expired upload state removed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
