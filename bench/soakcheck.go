package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// soakDecryptSample is how many stored objects are decrypted outside the
// gateway: the largest, the smallest and some between.
const soakDecryptSample = 16

// checkRoundTrip runs after the load: it downloads every object the sink
// holds through the gateway and compares it with what was uploaded, looks
// at the sink's copies (age files), decrypts a sample of them with the
// region identity outside the gateway, and reads the form posts the sink
// kept for identifiers.
func checkRoundTrip(ctx context.Context, e *env, g *gatewayProcess, proxied *target, storageBase string, users []*soakUser) SoakRoundTrip {
	var rt SoakRoundTrip
	problem := func(format string, args ...any) {
		if len(rt.Problems) < 10 {
			rt.Problems = append(rt.Problems, fmt.Sprintf(format, args...))
		}
	}
	var stored []*soakObject
	for _, u := range users {
		rt.Uploads += len(u.objects)
		if u.current != nil {
			stored = append(stored, u.current)
		} else if u.role == roleStorage && len(u.objects) > 0 {
			problem("user %d: its last upload failed, so what the sink holds under its name is unknown", u.id)
		}
	}
	rt.Stored = len(stored)

	// Every stored object, through the gateway once more (decrypted on the
	// way down), by a few clients at once.
	var mu sync.Mutex
	forEach(stored, 8, func(o *soakObject) {
		c := proxied.newClient()
		defer c.CloseIdleConnections()
		err := fetch(ctx, c, storageBase+o.path, func(r io.Reader) error { return checkDigest(r, o) })
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			rt.Mismatches++
			problem("through the gateway: %v", err)
			return
		}
		o.verified = true
	})
	for _, u := range users {
		for _, o := range u.objects {
			if o.verified {
				rt.Verified++
			}
		}
	}
	rt.Unverified = rt.Uploads - rt.Verified

	// What the provider holds: every object must be an age file.
	sinkOnly := &target{roots: proxied.sinkRoots}
	forEach(stored, 8, func(o *soakObject) {
		c := sinkOnly.newClient()
		defer c.CloseIdleConnections()
		err := fetch(ctx, c, "https://"+e.sink.addr+o.path, func(r io.Reader) error {
			head := make([]byte, len(ageMagic))
			if _, err := io.ReadFull(r, head); err != nil || string(head) != ageMagic {
				return fmt.Errorf("%s at the sink is not an age file", o.path)
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			problem("%v", err)
			return
		}
		rt.AgeFiles++
	})

	// The exit plan: a sample decrypted with the region identity by
	// another tool than the gateway.
	if err := decryptSample(ctx, e, g, sinkOnly, sampleOf(stored, soakDecryptSample), &rt, problem); err != nil {
		problem("decrypting outside the gateway: %v", err)
	}

	// The form posts the sink kept: tokens, never the identifiers.
	c := sinkOnly.newClient()
	defer c.CloseIdleConnections()
	for _, u := range users {
		if u.formAt == "" {
			continue
		}
		rt.FormsStored++
		err := fetch(ctx, c, "https://"+e.sink.addr+u.formAt, func(r io.Reader) error {
			b, err := io.ReadAll(io.LimitReader(r, 1<<20))
			if err != nil {
				return err
			}
			if n := identifiersIn(b); n > 0 {
				rt.FormLeaks++
				return fmt.Errorf("the form post the sink kept at %s holds %d identifiers in clear", u.formAt, n)
			}
			return nil
		})
		if err != nil {
			problem("%v", err)
		}
	}
	rt.OK = rt.Uploads > 0 && rt.Unverified == 0 && rt.Mismatches == 0 && rt.AgeFiles == rt.Stored &&
		rt.Decrypted > 0 && rt.DecryptFailed == 0 && rt.FormLeaks == 0 && len(rt.Problems) == 0
	return rt
}

// fetch GETs url and hands the body to read.
func fetch(ctx context.Context, c *http.Client, url string, read func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", req.URL.Path, resp.StatusCode)
	}
	if err := read(resp.Body); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// forEach calls f on every item, n at a time.
func forEach[T any](items []T, n int, f func(T)) {
	ch := make(chan T)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				f(it)
			}
		}()
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
}

// sampleOf picks up to n objects evenly spread by size, the smallest and
// the largest included.
func sampleOf(objects []*soakObject, n int) []*soakObject {
	s := slices.Clone(objects)
	slices.SortFunc(s, func(a, b *soakObject) int { return int(a.size - b.size) })
	if len(s) <= n {
		return s
	}
	out := make([]*soakObject, n)
	for k := range n {
		out[k] = s[k*(len(s)-1)/(n-1)]
	}
	return out
}

// decryptSample exports the region identity from the gateway's data
// directory and decrypts each object of sample, as the sink holds it,
// with the age CLI (1.3 or later, for mlkem768x25519) or, where that is
// missing, `sluss decrypt -i`.
func decryptSample(ctx context.Context, e *env, g *gatewayProcess, sinkOnly *target, sample []*soakObject, rt *SoakRoundTrip, problem func(string, ...any)) error {
	idFile := filepath.Join(e.dir, "soak-identity.txt")
	os.Remove(idFile)
	defer os.Remove(idFile)
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	export := exec.CommandContext(ectx, e.exe, "keys", "export-identity", "--data-dir", g.dir, "--i-understand-this-exports-the-private-key", "-o", idFile)
	export.Env = append(os.Environ(), "SLUSS_DATA_DIR="+g.dir, ChildEnv+"=1")
	export.Stderr = &stderr
	if err := export.Run(); err != nil {
		return fmt.Errorf("sluss keys export-identity: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	tool, argv := decryptTool(e.exe, idFile)
	rt.DecryptTool = tool
	c := sinkOnly.newClient()
	defer c.CloseIdleConnections()
	for _, o := range sample {
		err := fetch(ctx, c, "https://"+e.sink.addr+o.path, func(r io.Reader) error {
			dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(dctx, argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), ChildEnv+"=1")
			cmd.Stdin = r
			h := sha256.New()
			counted := &countingWriter{w: h}
			cmd.Stdout = counted
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %v: %s", tool, err, strings.TrimSpace(stderr.String()))
			}
			if counted.n != o.size || !bytes.Equal(h.Sum(nil), o.digest[:]) {
				return fmt.Errorf("%s decrypted %s to %d bytes that differ from the %d uploaded", tool, o.path, counted.n, o.size)
			}
			rt.DecryptedBytes += counted.n
			return nil
		})
		if err != nil {
			rt.DecryptFailed++
			problem("%v", err)
			continue
		}
		rt.Decrypted++
	}
	return nil
}

// decryptTool returns the age CLI if one that reads mlkem768x25519
// (≥ 1.3) is on PATH, else this sluss's own decrypt.
func decryptTool(exe, idFile string) (string, []string) {
	if p, err := exec.LookPath("age"); err == nil {
		out, _ := exec.Command(p, "--version").Output()
		v := strings.TrimSpace(string(out))
		if m := regexp.MustCompile(`^v?(\d+)\.(\d+)`).FindStringSubmatch(v); m != nil {
			major, _ := strconv.Atoi(m[1])
			minor, _ := strconv.Atoi(m[2])
			if major > 1 || major == 1 && minor >= 3 {
				return "age " + v, []string{p, "-d", "-i", idFile}
			}
		}
	}
	return "sluss decrypt", []string{exe, "decrypt", "-i", idFile}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
