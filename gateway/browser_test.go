package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// browser is headless Chromium driven over the DevTools pipe (see cdp in
// chromium_test.go), with one page open.
type browser struct {
	t       testing.TB
	ctx     context.Context
	cd      *cdp
	session string
	stderr  *syncBuffer
}

// startBrowser starts Chromium with a fresh profile under home and extra
// flags (a proxy, say; without one it connects directly), and opens a
// blank page. The browser ends with the test.
func startBrowser(t testing.TB, ctx context.Context, home string, flags ...string) *browser {
	t.Helper()
	bin := needTool(t, "chromium", "apt-get install -y chromium")
	toChrome, chromeIn, err := os.Pipe() // Chromium reads fd 3
	if err != nil {
		t.Fatal(err)
	}
	chromeOut, fromChrome, err := os.Pipe() // Chromium writes fd 4
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
		"--user-data-dir=" + filepath.Join(home, "profile"), "--window-size=1600,600", "--remote-debugging-pipe",
	}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, "about:blank")...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome}
	b := &browser{t: t, ctx: ctx, stderr: &syncBuffer{}}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toChrome.Close()
	fromChrome.Close()
	t.Cleanup(func() {
		chromeIn.Close()
		cmd.Process.Kill()
		cmd.Wait()
		chromeOut.Close()
	})
	b.cd = newCDP(chromeIn, chromeOut)
	var target struct{ TargetID string }
	b.call("Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	if err := b.cd.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	b.session = att.SessionID
	b.call("Page.enable", map[string]any{}, nil)
	return b
}

// call sends one DevTools command to the page (or, before a page is
// attached, to the browser) and fails the test on an error.
func (b *browser) call(method string, params, result any) {
	b.t.Helper()
	if err := b.cd.call(b.ctx, b.session, method, params, result); err != nil {
		b.t.Fatalf("%v\n%s", err, b.stderr.String())
	}
}

// navigate loads url and waits for its load event.
func (b *browser) navigate(url string) {
	b.t.Helper()
	b.call("Page.navigate", map[string]any{"url": url}, nil)
	if err := b.cd.waitEvent(b.ctx, b.session, "Page.loadEventFired"); err != nil {
		b.t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page and returns its
// value as text.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		b.t.Fatalf("%s: %s", expr, res.ExceptionDetails.Text)
	}
	return fmt.Sprint(res.Result.Value)
}

// screenshot saves the page as name (PNG) under SLUSS_ARTIFACTS, or a
// temporary directory, and returns the file.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	var shot struct{ Data string }
	b.call("Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, _ := base64.StdEncoding.DecodeString(shot.Data)
	dir := os.Getenv("SLUSS_ARTIFACTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	os.MkdirAll(dir, 0o755)
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, png, 0o644); err != nil || len(png) < 1000 {
		b.t.Errorf("screenshot: %d bytes, %v", len(png), err)
	}
	return file
}
