// Command sluss is the region's encryption and pseudonymization gateway and
// its tools. Run `sluss help` for the commands; each lives in its own file
// here and does flag parsing and wiring only: the work is in the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// env is what a command may touch of the outside world, so tests can run
// commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is the table of subcommands; each file adds its own entry.
var commands = map[string]command{
	"keygen":       {"generate an identity (AGE-SECRET-KEY-PQ-1…) file", runKeygen},
	"encrypt":      {"encrypt a file to age1pq1… recipients", runEncrypt},
	"decrypt":      {"decrypt an age file with identities", runDecrypt},
	"version":      {"print the version", runVersion},
	"pseudonymize": {"replace personnummer and names with tokens", runPseudonymize},
	"reidentify":   {"put the originals back in place of tokens", runReidentify},
	"serve":        {"run the gateway: proxy and admin listener", runServe},
	"keys":         {"create, rotate, list and export the region's keys (sluss keys help)", runKeys},
	"ca":           {"export the gateway's CA certificate (sluss ca export)", runCA},
	"bench":        {"measure throughput and latency: direct, through the gateway, and peers", runBench},
	"services":     {"list the cloud services in use (per host) from audit logs", runServices},
	"audit":        {"verify the audit log's hash chain and signed checkpoints (sluss audit verify)", runAudit},
	"db":           {"create or update the PostgreSQL schema of the shared state (sluss db migrate)", runDB},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{os.Stdin, os.Stdout, os.Stderr, os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code. Errors are one
// line on stderr, prefixed with the command, as age does.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "sluss: unknown command %q; run 'sluss help'\n", args[0])
		return 2
	}
	err := cmd.run(ctx, e, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(e.stderr, "sluss %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(e.stderr, "sluss %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "sluss: the region's encryption and pseudonymization gateway")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: sluss COMMAND [flags] [args]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'sluss COMMAND -h' for a command's flags.")
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints its usage to e.stderr.
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("sluss "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: sluss %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may come before or after positional
// arguments (sluss encrypt -r X in.txt -o out.age), and returns the
// positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
