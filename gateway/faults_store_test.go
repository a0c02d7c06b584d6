package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluss/sluss/pseudonym"
)

// testPersonnummer is the i-th of a series of distinct, valid
// personnummer (YYYYMMDD-NNNC, born from 1950 on, Luhn-checked).
func testPersonnummer(i int) string {
	d := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/900)
	nine := fmt.Sprintf("%s%03d", d.Format("060102"), 100+i%900)
	sum := 0
	for k, c := range nine {
		v := int(c-'0') * (2 - k%2)
		sum += v/10 + v%10
	}
	return fmt.Sprintf("%s%s-%03d%d", d.Format("2006"), d.Format("0102"), 100+i%900, (10-sum%10)%10)
}

// mountTmpfs mounts a tmpfs of the given size (as mount's size=) on a new
// directory, and unmounts it at cleanup. It skips the test where mounting
// is not permitted (not root, or no CAP_SYS_ADMIN in a container).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	os.Mkdir(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root or CAP_SYS_ADMIN): %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the filesystem has no space left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, block := range []int{64 << 10, 4 << 10, 512, 1} {
		buf := make([]byte, block)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling: %v", err)
				}
				break
			}
		}
	}
}

// swapStore is a BoltStore a test can replace while the gateway runs.
type swapStore struct {
	s atomic.Pointer[pseudonym.BoltStore]
}

func (w *swapStore) Put(ctx context.Context, e ...pseudonym.Entry) error {
	return w.s.Load().Put(ctx, e...)
}
func (w *swapStore) Get(ctx context.Context, token string) ([]byte, error) {
	return w.s.Load().Get(ctx, token)
}
func (w *swapStore) Close() error { return nil }

// TestFaultStoreDiskFull: the re-identification store (the embedded bbolt
// file) is on a filesystem that fills up. A request with personnummer the
// store has not seen is refused with 503 and nothing goes upstream; one
// whose mappings exist still goes through, and responses are still
// re-identified. Once space returns, nothing is lost: every token the
// upstream ever got re-identifies, refused requests succeed when sent
// again, and the file, reopened, holds every mapping.
func TestFaultStoreDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	key := make([]byte, 32)
	rand.Read(key)
	dbPath := filepath.Join(dir, pseudonym.StoreFile)
	bolt, err := pseudonym.OpenBoltStore(dbPath, key)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			bolt.Close()
		}
	})
	c := newCloud(t)
	get := recordsAPI(c)
	k := newTestKeys(t)
	store := &swapStore{}
	store.s.Store(bolt)
	h := newHarnessOn(t, storageConfig(c, "form"), k, k.caPEM, k.id.SecretKey(), nil, nil,
		func(h *harness) { h.store.Store = store })
	h.keys = k
	cl := h.client("", "")
	var values []string // every personnummer sent, for the leak check
	defer func() {
		for _, log := range []string{h.audit.String(), h.debug.String()} {
			for _, v := range values {
				if strings.Contains(log, v) {
					t.Fatal("a log contains a personnummer the test sent")
				}
			}
		}
	}()

	post := func(pnr string, n int) (int, int, string) {
		t.Helper()
		values = append(values, pnr)
		return postRecord(t, cl, c, pnr, n)
	}
	sent := map[int]string{} // upstream record → the body the client sent
	i := 0
	for ; i < 20; i++ {
		status, rec, b := post(testPersonnummer(i), i)
		if status != http.StatusCreated {
			t.Fatalf("before the fault: %d %s", status, b)
		}
		sent[rec] = fmt.Sprintf(`{"id":%d,"personnummer":"%s"}`, i, testPersonnummer(i))
	}
	fi, _ := os.Stat(dbPath)
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	t.Logf("store file %d bytes; filesystem full", fi.Size())

	// New personnummer until the store cannot take more: bbolt reuses
	// freed pages for a while, then needs one the disk has not got.
	var refused []int
	written := 0
	for ; i < 2000 && len(refused) < 5; i++ {
		status, rec, b := post(testPersonnummer(i), i)
		switch status {
		case http.StatusCreated:
			sent[rec] = fmt.Sprintf(`{"id":%d,"personnummer":"%s"}`, i, testPersonnummer(i))
			written++
		case http.StatusServiceUnavailable:
			if len(refused) == 0 {
				t.Logf("first refusal after %d more mappings: %s", written, b)
				if !strings.Contains(b, "re-identification store") || !strings.Contains(b, "nothing was sent") {
					t.Errorf("the refusal does not say why: %s", b)
				}
			}
			refused = append(refused, i)
		default:
			t.Fatalf("during the fault: %d %s", status, b)
		}
	}
	if len(refused) == 0 {
		t.Fatalf("%d new mappings on a full filesystem, none refused", written)
	}
	if !h.auditSoon(t, `"method":"POST"`, `"status":503`) {
		t.Errorf("the refusals are not audited:\n%s", h.audit.String())
	}
	// Known personnummer need no write: they go through, and records are
	// re-identified, while the disk is still full.
	if status, rec, b := post(testPersonnummer(0), 0); status != http.StatusCreated {
		t.Errorf("a known personnummer on a full disk: %d %s", status, b)
	} else {
		sent[rec] = fmt.Sprintf(`{"id":%d,"personnummer":"%s"}`, 0, testPersonnummer(0))
	}
	checkRecords := func(when string) {
		t.Helper()
		for rec, want := range sent {
			if up := get(rec).body; !tokenRE.Match(up) || bytes.Contains(up, []byte(want[len(want)-15:len(want)-2])) {
				t.Fatalf("%s: record %d upstream is not pseudonymized", when, rec)
			}
			resp, err := cl.Get(fmt.Sprintf("%s/api/records/%d", c.URL(), rec))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != want {
				t.Fatalf("%s: record %d re-identified as %d, %d bytes", when, rec, resp.StatusCode, len(b))
			}
		}
	}
	checkRecords("disk full")

	// Space returns.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, n := range refused {
		status, rec, b := post(testPersonnummer(n), n)
		if status != http.StatusCreated {
			t.Fatalf("a refused request sent again with space back: %d %s", status, b)
		}
		sent[rec] = fmt.Sprintf(`{"id":%d,"personnummer":"%s"}`, n, testPersonnummer(n))
	}
	for j := 0; j < 20; j, i = j+1, i+1 {
		status, rec, b := post(testPersonnummer(i), i)
		if status != http.StatusCreated {
			t.Fatalf("with space back: %d %s", status, b)
		}
		sent[rec] = fmt.Sprintf(`{"id":%d,"personnummer":"%s"}`, i, testPersonnummer(i))
	}
	checkRecords("space back")
	t.Logf("%d records upstream; %d new mappings written on the full disk before the first of %d refusals", len(sent), written, len(refused))

	// The file itself holds every token the upstream got.
	bolt.Close()
	closed = true
	again, err := pseudonym.OpenBoltStore(dbPath, key)
	if err != nil {
		t.Fatalf("reopening the store: %v", err)
	}
	defer again.Close()
	store.s.Store(again)
	for rec, want := range sent {
		back, counts, err := h.pseudo.ReidentifyString(context.Background(), pseudonym.FormatJSON, string(get(rec).body))
		if err != nil || back != want || counts.Unknown != 0 || counts.ReidentifiedPersonnummer != 1 {
			t.Fatalf("record %d from the reopened store: %+v, %v", rec, counts, err)
		}
	}
}

// mountExt4 makes an ext4 filesystem image mounted (loop) with
// errors=remount-ro on a new directory, and returns the directory and a
// function that makes the kernel declare a filesystem error: ext4 then
// remounts itself read-only under the open files, as it does on a failing
// disk. It skips where loop devices or ext4 are not available.
func mountExt4(t *testing.T) (dir, image string, fail func()) {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "mount", "umount", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (Debian e2fsprogs, mount)", tool)
		}
	}
	image = filepath.Join(t.TempDir(), "store.img")
	dir = t.TempDir()
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(image, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", image).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", image, dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop device (needs root and /dev/loop*): %v: %s", err, bytes.TrimSpace(out))
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", dir).Run()
		}
	})
	dev := ""
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == dir {
			dev = filepath.Base(f[0])
		}
	}
	trigger := filepath.Join("/sys/fs/ext4", dev, "trigger_fs_error")
	if _, err := os.Stat(trigger); dev == "" || err != nil {
		t.Skipf("this kernel has no %s", trigger)
	}
	return dir, image, func() {
		if err := os.WriteFile(trigger, []byte("1"), 0o200); err != nil {
			t.Fatalf("triggering the filesystem error: %v", err)
		}
	}
}

// TestFaultStoreReadOnly: the filesystem under the re-identification store
// turns read-only while the gateway runs (ext4's errors=remount-ro after a
// disk error, made by the kernel's own trigger). A request that needs a
// new mapping is refused with 503 and nothing goes upstream; known
// personnummer and re-identification go on; once the filesystem is
// repaired and mounted again, the store holds every token the upstream
// ever got, and new requests succeed.
func TestFaultStoreReadOnly(t *testing.T) {
	dir, image, failDisk := mountExt4(t)
	key := make([]byte, 32)
	rand.Read(key)
	dbPath := filepath.Join(dir, pseudonym.StoreFile)
	bolt, err := pseudonym.OpenBoltStore(dbPath, key)
	if err != nil {
		t.Fatal(err)
	}
	c := newCloud(t)
	get := recordsAPI(c)
	k := newTestKeys(t)
	store := &swapStore{}
	store.s.Store(bolt)
	h := newHarnessOn(t, storageConfig(c, "form"), k, k.caPEM, k.id.SecretKey(), nil, nil,
		func(h *harness) { h.store.Store = store })
	h.keys = k
	cl := h.client("", "")
	post := func(i int) (int, int, string) {
		t.Helper()
		return postRecord(t, cl, c, testPersonnummer(i), i)
	}
	sent := map[int]int{} // upstream record → personnummer number
	for i := 0; i < 20; i++ {
		status, rec, b := post(i)
		if status != http.StatusCreated {
			t.Fatalf("before the fault: %d %s", status, b)
		}
		sent[rec] = i
	}

	failDisk()
	if err := os.WriteFile(filepath.Join(dir, "probe"), []byte("x"), 0o600); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("the filesystem did not turn read-only: %v", err)
	}
	status, _, b := post(100)
	if status != http.StatusServiceUnavailable || !strings.Contains(b, "re-identification store") || !strings.Contains(b, "nothing was sent") {
		t.Fatalf("a new mapping on a read-only store: %d %s, want a 503 that says why", status, b)
	}
	if !h.auditSoon(t, `"method":"POST"`, `"status":503`) {
		t.Errorf("the refusal is not audited")
	}
	// Known personnummer need no write; re-identification reads.
	if status, rec, b := post(3); status != http.StatusCreated {
		t.Errorf("a known personnummer on a read-only store: %d %s", status, b)
	} else {
		sent[rec] = 3
	}
	for rec, i := range sent {
		resp, err := cl.Get(fmt.Sprintf("%s/api/records/%d", c.URL(), rec))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), testPersonnummer(i)) {
			t.Fatalf("record %d not re-identified on a read-only store: %d", rec, resp.StatusCode)
		}
	}

	// The operator repairs the filesystem and mounts it again.
	bolt.Close()
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	if out, err := exec.Command("e2fsck", "-fy", image).CombinedOutput(); err != nil {
		// Exit 1: errors corrected, which is what a repair is.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck: %v: %s", err, out)
		}
	}
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", image, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount again: %v: %s", err, out)
	}
	again, err := pseudonym.OpenBoltStore(dbPath, key)
	if err != nil {
		t.Fatalf("reopening the store: %v", err)
	}
	t.Cleanup(func() { again.Close() })
	store.s.Store(again)
	for rec, i := range sent {
		back, counts, err := h.pseudo.ReidentifyString(context.Background(), pseudonym.FormatJSON, string(get(rec).body))
		if err != nil || counts.ReidentifiedPersonnummer != 1 || !strings.Contains(back, testPersonnummer(i)) {
			t.Fatalf("record %d from the repaired store: %+v, %v", rec, counts, err)
		}
	}
	if status, _, b := post(100); status != http.StatusCreated {
		t.Fatalf("the refused request sent again after the repair: %d %s", status, b)
	}
}

// postRecord sends one record to the cloud's records API; it returns the
// status, the record's number upstream (0 if none was stored) and the
// body. A refused request must not have reached the upstream.
func postRecord(t *testing.T, cl *http.Client, c *cloud, pnr string, n int) (int, int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%d,"personnummer":"%s"}`, n, pnr)
	before := c.requests.Load()
	resp, err := cl.Post(c.URL()+"/api/records", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rec int
	if resp.StatusCode == http.StatusCreated {
		fmt.Sscanf(string(b), `{"id":%d}`, &rec)
	} else if c.requests.Load() != before {
		t.Fatalf("a refused request (%s) reached the upstream", resp.Status)
	}
	return resp.StatusCode, rec, string(b)
}
