package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/sluss/sluss/gateway"
)

// runServices prints the cloud-service inventory of audit logs: one row
// per host, as GET /v1/services does for a running gateway.
func runServices(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "services", "[--format table|csv|json] [AUDIT_FILE…]")
	format := fs.String("format", "table", "output `FORMAT`: table, csv or json (an array of objects, as GET /v1/services)")
	maxHosts := fs.Int("max-hosts", 100000, "keep at most `N` hosts; the rest are counted in one row, "+gateway.OverflowHost)
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return usagef("--format must be table, csv or json, not %q", *format)
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	inv := gateway.NewInventory(*maxHosts)
	var total gateway.AuditLogStats
	for _, f := range files {
		st, err := readAuditFile(e, inv, f)
		if err != nil {
			return err
		}
		total.Events += st.Events
		total.Skipped += st.Skipped
		total.Malformed += st.Malformed
	}
	if total.Malformed > 0 {
		fmt.Fprintf(e.stderr, "sluss services: %d line(s) are not JSON audit events; skipped\n", total.Malformed)
	}
	rows := inv.Services()
	switch *format {
	case "json":
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "csv":
		return gateway.WriteServicesCSV(e.stdout, rows)
	}
	return gateway.WriteServicesTable(e.stdout, rows)
}

// readAuditFile adds an audit log to the inventory: a file, gzip-compressed
// or not (rotated logs), or standard input for "-".
func readAuditFile(e *env, inv *gateway.Inventory, name string) (gateway.AuditLogStats, error) {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return gateway.AuditLogStats{}, err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return gateway.AuditLogStats{}, fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	st, err := inv.ReadAuditLog(r)
	if err != nil {
		return st, fmt.Errorf("%s: %w", name, err)
	}
	return st, nil
}
