package document

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluss/sluss/pseudonym"
)

var (
	benchGiven   = []string{"Anna", "Karin", "Lars", "Björn", "Łukasz", "Dragana", "Mohammed", "Eva", "Sven", "Ingrid", "Ahmed", "Maria"}
	benchSurname = []string{"Andersson", "Nilsson", "Ängström", "Żółć", "Hodžić", "Svensson", "Lindqvist", "Berg", "Johansson", "Karlsson"}
)

// benchPnr returns a valid 12-digit personnummer.
func benchPnr(r *rand.Rand) string {
	d := fmt.Sprintf("%04d%02d%02d%03d", 1930+r.IntN(80), 1+r.IntN(12), 1+r.IntN(28), r.IntN(1000))
	sum := 0
	for k, c := range d[2:] {
		v := int(c - '0')
		if k%2 == 0 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return d + strconv.Itoa((10-sum%10)%10)
}

func benchName(r *rand.Rand) string {
	return benchGiven[r.IntN(len(benchGiven))] + " " + benchSurname[r.IntN(len(benchSurname))]
}

const xlsxHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

// writeXLSX writes a workbook of rows register rows: a name and a
// personnummer as text (shared strings), the personnummer as a number, an
// amount, and a note as an inline string.
func writeXLSX(w io.Writer, rows int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 1))
	zw := zip.NewWriter(w)
	file := func(name, body string) {
		f, _ := zw.Create(name)
		io.WriteString(f, body)
	}
	file("[Content_Types].xml", xlsxHead+`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`)
	file("_rels/.rels", xlsxHead+`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	file("xl/workbook.xml", xlsxHead+`<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Register" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	file("xl/_rels/workbook.xml.rels", xlsxHead+`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`)
	pnrs := make([]string, 0, rows)
	f, err := zw.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	bw.WriteString(xlsxHead + `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for i := 1; i <= rows; i++ {
		p := benchPnr(r)
		pnrs = append(pnrs, p)
		fmt.Fprintf(bw, `<row r="%d"><c r="A%d" t="s"><v>%d</v></c><c r="B%d" t="s"><v>%d</v></c><c r="C%d"><v>%s</v></c><c r="D%d"><v>%d</v></c><c r="E%d" t="inlineStr"><is><t>Besök %d av %s, uppföljning om %d veckor</t></is></c></row>`,
			i, i, 2*(i-1), i, 2*(i-1)+1, i, p, i, r.IntN(100000), i, i, benchName(r), 1+r.IntN(9))
	}
	bw.WriteString(`</sheetData></worksheet>`)
	if err := bw.Flush(); err != nil {
		return err
	}
	f, err = zw.Create("xl/sharedStrings.xml")
	if err != nil {
		return err
	}
	bw = bufio.NewWriterSize(f, 64<<10)
	fmt.Fprintf(bw, xlsxHead+`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, 2*rows, 2*rows)
	for _, p := range pnrs {
		fmt.Fprintf(bw, `<si><t>%s</t></si><si><t>%s-%s</t></si>`, benchName(r), p[:8], p[8:])
	}
	bw.WriteString(`</sst>`)
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// writeDOCX writes a letter of paras paragraphs, a name in every other
// split over two runs.
func writeDOCX(w io.Writer, paras int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 2))
	zw := zip.NewWriter(w)
	file := func(name, body string) {
		f, _ := zw.Create(name)
		io.WriteString(f, body)
	}
	file("[Content_Types].xml", xlsxHead+`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`)
	file("_rels/.rels", xlsxHead+`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`)
	f, err := zw.Create("word/document.xml")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	bw.WriteString(xlsxHead + `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>`)
	for i := 0; i < paras; i++ {
		name := []rune(benchName(r))
		split := 2 + r.IntN(2)
		fmt.Fprintf(bw, `<w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr><w:r><w:rPr><w:lang w:val="sv-SE"/></w:rPr><w:t xml:space="preserve">Vid besöket den %d maj berättade </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>%s</w:t></w:r><w:r><w:t xml:space="preserve">%s (%s) att medicineringen fungerar och att nästa kontroll bokas om tre veckor på mottagningen.</w:t></w:r></w:p>`,
			1+r.IntN(28), string(name[:split]), string(name[split:]), benchPnr(r))
	}
	bw.WriteString(`</w:body></w:document>`)
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

func benchDocument(b *testing.B, doc []byte, reid bool) {
	p := newPseudonymizer(b)
	ctx := context.Background()
	in := doc
	if reid {
		var out bytes.Buffer
		if _, err := Pseudonymize(ctx, p, bytes.NewReader(doc), int64(len(doc)), &out, Limits{}); err != nil {
			b.Fatal(err)
		}
		in = out.Bytes()
	}
	b.SetBytes(int64(len(in)))
	zr, _ := zip.NewReader(bytes.NewReader(in), int64(len(in)))
	var xmlBytes uint64
	for _, f := range zr.File {
		xmlBytes += f.UncompressedSize64
	}
	b.ResetTimer()
	for b.Loop() {
		var err error
		if reid {
			_, err = Reidentify(ctx, p, bytes.NewReader(in), int64(len(in)), io.Discard, Limits{})
		} else {
			_, err = Pseudonymize(ctx, p, bytes.NewReader(in), int64(len(in)), io.Discard, Limits{})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(xmlBytes)*float64(b.N)/1e6/b.Elapsed().Seconds(), "xmlMB/s")
}

func genBench(b *testing.B, gen func(io.Writer, int, uint64) error, n int) []byte {
	var buf bytes.Buffer
	if err := gen(&buf, n, 1); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// A register of 100 000 rows (4.8 MB as an XLSX, 32 MB of XML) and a
// letter of 100 000 paragraphs (1.5 MB as a DOCX, 38 MB of XML). MB/s is
// of the document file; xmlMB/s of its XML decompressed.
func BenchmarkPseudonymizeXLSX(b *testing.B) { benchDocument(b, genBench(b, writeXLSX, 100000), false) }
func BenchmarkReidentifyXLSX(b *testing.B)   { benchDocument(b, genBench(b, writeXLSX, 100000), true) }
func BenchmarkPseudonymizeDOCX(b *testing.B) { benchDocument(b, genBench(b, writeDOCX, 100000), false) }
func BenchmarkReidentifyDOCX(b *testing.B)   { benchDocument(b, genBench(b, writeDOCX, 100000), true) }

// BenchmarkFixtures runs the LibreOffice fixtures: small documents, where
// the cost per file (zip directory, lexicon session) shows.
func BenchmarkFixtures(b *testing.B) {
	for _, name := range fixtures {
		b.Run(name, func(b *testing.B) { benchDocument(b, readFixture(b, name), false) })
	}
}

// TestLargeXLSX pseudonymizes a generated XLSX of about 50 MB (set
// SLUSS_DOC_LARGE=1; SLUSS_DOC_LARGE_ROWS to change its size) from a
// spool on disk to a spool on disk, as the gateway does, and reports the
// time, the throughput and the peak memory: the Go heap in use, sampled,
// and the process's peak RSS.
func TestLargeXLSX(t *testing.T) {
	if os.Getenv("SLUSS_DOC_LARGE") == "" {
		t.Skip("set SLUSS_DOC_LARGE=1 to pseudonymize a 50 MB XLSX")
	}
	rows := 1050000
	if s := os.Getenv("SLUSS_DOC_LARGE_ROWS"); s != "" {
		rows, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "large.xlsx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := writeXLSX(f, rows, 7); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	t.Logf("generated %d rows, %.1f MB, in %v", rows, float64(fi.Size())/1e6, time.Since(t0).Round(time.Millisecond))

	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	// The embedded bbolt store, as the gateway has it; its file is
	// mapped into memory, which the RSS counts (SLUSS_DOC_LARGE_STORE=null
	// measures the rewriter alone).
	var store pseudonym.Store
	if os.Getenv("SLUSS_DOC_LARGE_STORE") == "null" {
		store = nullStore{}
	} else {
		bs, err := pseudonym.OpenBoltStore(filepath.Join(dir, pseudonym.StoreFile), make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		defer bs.Close()
		store = bs
	}
	p, err := pseudonym.New(pseudonym.Config{}, pseudonym.NewStaticKeys(bytes.Repeat([]byte{7}, 32)), store)
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{SpoolDir: dir}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peak.Store(0)
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	sp, err := Spool(in, lim)
	in.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := NewSpool(lim)
	res, err := Pseudonymize(context.Background(), p, sp, sp.Size(), out, lim)
	elapsed := time.Since(t0)
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	t.Logf("pseudonymized %.1f MB in %v: %.2f MB/s; %d personnummer, %d names; out %.1f MB",
		float64(sp.Size())/1e6, elapsed.Round(time.Millisecond), float64(sp.Size())/1e6/elapsed.Seconds(),
		res.Counts.Personnummer, res.Counts.Names, float64(out.Size())/1e6)
	t.Logf("peak Go heap in use %.1f MiB (%.1f MiB before: the lexicons, the store); peak RSS of the test process %.1f MiB",
		float64(peak.Load())/(1<<20), float64(base.HeapInuse)/(1<<20), float64(ru.Maxrss)/1024)
	sp.Close()
	out.Close()
}

// nullStore keeps nothing: every token is new to it.
type nullStore struct{}

func (nullStore) Put(context.Context, ...pseudonym.Entry) error { return nil }
func (nullStore) Get(context.Context, string) ([]byte, error)   { return nil, pseudonym.ErrNotFound }
func (nullStore) Close() error                                  { return nil }
