package document

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluss/sluss/pseudonym"
)

var regNumber = regexp.MustCompile(`\b\d{10}(?:\d\d)?\b`)

// needTool finds an external program, failing under CI and skipping
// otherwise when it is missing (as the gateway's tests do).
func needTool(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found on PATH; install it: %s", name, hint)
		}
		t.Skipf("%s not found on PATH; install it: %s", name, hint)
	}
	return p
}

// TestLibreOffice: every fixture, pseudonymized, still opens in
// LibreOffice and converts to PDF, whose text holds tokens and no personal
// value; re-identified, it converts to the same text as the original.
// One soffice run converts all eighteen files (soffice starts slowly).
func TestLibreOffice(t *testing.T) {
	if testing.Short() {
		t.Skip("LibreOffice conversions: not in -short")
	}
	soffice := needTool(t, "soffice", "apt-get install libreoffice-writer libreoffice-calc libreoffice-impress (./test.sh does)")
	pdftotext := needTool(t, "pdftotext", "apt-get install poppler-utils (./test.sh does)")
	p := newPseudonymizer(t)
	dir := t.TempDir()
	var files []string
	numeric := map[string][]string{} // numeric tokens per fixture
	for _, name := range fixtures {
		orig := readFixture(t, name)
		doc, _ := pseudonymizeBytes(t, p, orig)
		back, _ := reidentifyBytes(t, p, doc)
		_, ps := parts(t, doc)
		for _, b := range ps {
			for _, m := range regNumber.FindAll(b, -1) {
				if pseudonym.IsNumberToken(string(m)) {
					numeric[name] = append(numeric[name], string(m))
				}
			}
		}
		for kind, b := range map[string][]byte{"orig": orig, "pseudo": doc, "back": back} {
			f := filepath.Join(dir, kind+"-"+name)
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	args := append([]string{"-env:UserInstallation=file://" + filepath.Join(dir, "profile"), "--headless", "--convert-to", "pdf", "--outdir", dir}, files...)
	if out, err := exec.Command(soffice, args...).CombinedOutput(); err != nil {
		t.Fatalf("soffice: %v\n%s", err, out)
	}
	text := func(kind, name string) string {
		t.Helper()
		pdf := filepath.Join(dir, kind+"-"+strings.TrimSuffix(name, filepath.Ext(name))+".pdf")
		out, err := exec.Command(pdftotext, "-enc", "UTF-8", pdf, "-").Output()
		if err != nil {
			t.Fatalf("%s %s: LibreOffice did not convert it (%v)", kind, name, err)
		}
		return string(out)
	}
	for _, name := range fixtures {
		orig, pseudo, back := text("orig", name), text("pseudo", name), text("back", name)
		found := 0
		for _, v := range personalValues {
			if strings.Contains(orig, v) {
				found++
			}
			if strings.Contains(pseudo, v) {
				t.Errorf("%s: the pseudonymized document shows %q", name, v)
			}
		}
		if found == 0 {
			t.Errorf("%s: the original shows no personal value: the check is void", name)
		}
		tokens := len(tokenRE.FindAllString(pseudo, -1))
		for _, n := range numeric[name] {
			if strings.Contains(pseudo, n) {
				tokens++
			}
		}
		if tokens == 0 {
			t.Errorf("%s: the pseudonymized document shows no token", name)
		}
		if len(numeric[name]) > 0 && !bytes.ContainsAny([]byte(pseudo), "0123456789") {
			t.Errorf("%s: no numbers shown", name)
		}
		if back != orig {
			t.Errorf("%s: re-identified, it reads\n%s\nwant\n%s", name, back, orig)
		}
	}
}
