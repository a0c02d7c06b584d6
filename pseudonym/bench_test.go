package pseudonym

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// benchText builds about size bytes of Swedish prose where ~1 % of the bytes
// are identifiers (names and personnummer), with repeats as in real data.
func benchText(size int) []byte {
	filler := "Vi har haft ett möte om planeringen inför hösten och gick igenom budget, lokaler och bemanning på enheten. "
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		b.WriteString(filler)
		b.WriteString(filler)
		b.WriteString(filler)
		b.WriteString(filler)
		b.WriteString(filler)
		fmt.Fprintf(&b, "Kontakt: Anna Berg %06d-%04d.\n", 100000+i%500, i%10000)
	}
	return b.Bytes()
}

func benchTransform(b *testing.B, f Format, data []byte) {
	p, _ := newTestPseudonymizer(b, Config{})
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Transform(ctx, f, bytes.NewReader(data), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTransformText(b *testing.B) { benchTransform(b, FormatText, benchText(4<<20)) }

// BenchmarkTransformTextOneLine is 4 MiB of prose without a line end (a
// long paragraph, a text field exported whole): every window of the
// stream but the first starts mid-line.
func BenchmarkTransformTextOneLine(b *testing.B) {
	filler := "Vi har haft ett möte om planeringen inför hösten och gick igenom budget, lokaler och bemanning på enheten. "
	benchTransform(b, FormatText, bytes.Repeat([]byte(filler), (4<<20)/len(filler)))
}

func BenchmarkTransformJSON(b *testing.B) { benchTransform(b, FormatJSON, benchJSON(4<<20)) }

// BenchmarkTransformSmallJSON is one API request body of ~2 KiB per call:
// the fixed cost of a stream (buffers, session) against little work.
func BenchmarkTransformSmallJSON(b *testing.B) { benchTransform(b, FormatJSON, benchJSON(2<<10)) }

func benchJSON(size int) []byte {
	var buf bytes.Buffer
	buf.WriteString("[")
	for i := 0; buf.Len() < size; i++ {
		if i > 0 {
			buf.WriteString(",\n")
		}
		fmt.Fprintf(&buf, `{"id":%d,"namn":"Anna Berg","pnr":"19121212-1212","aktiv":true,"belopp":%d.50,"anteckning":"Vi har haft ett möte om planeringen inför hösten och gick igenom budget, lokaler och bemanning på enheten. Vi har haft ett möte om planeringen inför hösten och gick igenom budget, lokaler och bemanning. Vi ses igen i september för uppföljning av alla delar.","kategori":"ekonomi","status":"klar"}`, i, i*7)
	}
	buf.WriteString("]")
	return buf.Bytes()
}

// BenchmarkTransformJSONUnique is BenchmarkTransformJSON with a note
// that differs in every record (a number in it), so that no value repeats
// (see cleanvalues.go).
func BenchmarkTransformJSONUnique(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("[")
	for i := 0; buf.Len() < 4<<20; i++ {
		if i > 0 {
			buf.WriteString(",\n")
		}
		fmt.Fprintf(&buf, `{"id":%d,"namn":"Anna Berg","pnr":"19121212-1212","aktiv":true,"belopp":%d.50,"anteckning":"Vi har haft möte %d om planeringen inför hösten och gick igenom budget, lokaler och bemanning på enheten. Vi har haft ett möte om planeringen inför hösten och gick igenom budget, lokaler och bemanning. Vi ses igen i september för uppföljning av alla delar.","kategori":"ekonomi","status":"klar"}`, i, i*7, i)
	}
	buf.WriteString("]")
	benchTransform(b, FormatJSON, buf.Bytes())
}

// BenchmarkTransformCSVUnique is BenchmarkTransformCSV with a comment that
// differs in every record.
func BenchmarkTransformCSVUnique(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("id;namn;personnummer;enhet;kommentar\n")
	for i := 0; buf.Len() < 4<<20; i++ {
		fmt.Fprintf(&buf, "%d;Anna Berg;19121212-1212;Hemtjänst Öst;\"Vi har haft möte %d om planeringen inför hösten och gick igenom budget, lokaler och bemanning på enheten. Vi har haft ett möte om planeringen inför hösten och gick igenom budget och lokaler. Uppföljning i september.\"\n", i, i)
	}
	benchTransform(b, FormatCSV, buf.Bytes())
}

// BenchmarkTransformJSONNumbers is an HR export whose personnummer are
// JSON numbers: 12 and 10 digits, 500 people, each seen many times.
func BenchmarkTransformJSONNumbers(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("[")
	for i := 0; buf.Len() < 4<<20; i++ {
		if i > 0 {
			buf.WriteString(",\n")
		}
		ten := []byte(fmt.Sprintf("800315%03d0", i%500))
		ten[9] = '0' + luhnCheck(ten)
		fmt.Fprintf(&buf, `{"id":%d,"personnr":19%s,"pnr":%s,"namn":"Anna Berg","anstalld":true,"lon":%d,"enhet":"Hemtjänst Öst","kommentar":"Vi ses igen i september för uppföljning av alla delar."}`, i, ten, ten, 30000+i%9000)
	}
	buf.WriteString("]")
	benchTransform(b, FormatJSON, buf.Bytes())
}

func BenchmarkTransformCSV(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("id;namn;personnummer;enhet;kommentar\n")
	for i := 0; buf.Len() < 4<<20; i++ {
		fmt.Fprintf(&buf, "%d;Anna Berg;19121212-1212;Hemtjänst Öst;\"Vi har haft ett möte om planeringen inför hösten och gick igenom budget, lokaler och bemanning på enheten. Vi har haft ett möte om planeringen inför hösten och gick igenom budget och lokaler. Uppföljning i september.\"\n", i)
	}
	benchTransform(b, FormatCSV, buf.Bytes())
}

// BenchmarkHMAC is the tokenizer alone: one HMAC-SHA256 and encoding per
// value, as tokens/s.
func BenchmarkHMAC(b *testing.B) {
	m, _ := newMacer(KindPersonnummer, 1, bytes.Repeat([]byte{7}, 32))
	v := []byte("191212121212")
	var dst []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v[11] = byte('0' + i%10)
		dst = appendToken(dst[:0], m.id(v), layoutLong)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkHMACViaHTTP is the baseline a Vault user would pick: one call to
// a key service per value (like Transit's /hmac endpoint), here a loopback
// HTTP service in the same process, so the ratio is a lower bound.
func BenchmarkHMACViaHTTP(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hmac.New(sha256.New, key)
		h.Write(body)
		io.WriteString(w, `{"data":{"hmac":"vault:v1:`+hex.EncodeToString(h.Sum(nil))+`"}}`)
	}))
	defer srv.Close()
	client := srv.Client()
	v := []byte("191212121212")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v[11] = byte('0' + i%10)
		resp, err := client.Post(srv.URL+"/v1/transit/hmac/pnr", "application/octet-stream", bytes.NewReader(v))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// generatedText streams n bytes of benchText, repeated, without holding it.
type generatedText struct {
	chunk []byte
	left  int64
	off   int
}

func (g *generatedText) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	n := copy(p, g.chunk[g.off:])
	if int64(n) > g.left {
		n = int(g.left)
	}
	g.off = (g.off + n) % len(g.chunk)
	g.left -= int64(n)
	return n, nil
}

// BenchmarkStream1GiB streams 1 GiB of generated text through the text
// transformer into io.Discard and reports heap growth: it must stay flat
// (a few chunk buffers), whatever the size. Run with
// go test -run '^$' -bench Stream1GiB -benchtime 1x ./pseudonym/
func BenchmarkStream1GiB(b *testing.B) {
	size := int64(1 << 30)
	if s := os.Getenv("SLUSS_STREAM_BYTES"); s != "" {
		size, _ = strconv.ParseInt(s, 10, 64)
	}
	p, _ := newTestPseudonymizer(b, Config{})
	chunk := benchText(1 << 20)
	// Cut at a line end so the repeat stays well-formed.
	chunk = chunk[:bytes.LastIndexByte(chunk, '\n')+1]
	b.SetBytes(size)
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		peak := uint64(0)
		w := &peakWriter{peak: &peak}
		if _, err := p.Transform(context.Background(), FormatText, &generatedText{chunk: chunk, left: size}, w); err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-growth-MiB")
	}
}

// peakWriter samples the heap now and then while the stream runs.
type peakWriter struct {
	n    int
	peak *uint64
}

func (w *peakWriter) Write(p []byte) (int, error) {
	w.n++
	if w.n%2048 == 0 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapAlloc > *w.peak {
			*w.peak = m.HeapAlloc
		}
	}
	return len(p), nil
}

// TestStreamMemoryFlat is the quick version of BenchmarkStream1GiB: 64 MiB
// (skipped with -short), checking the heap does not grow with the input.
func TestStreamMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 64 MiB")
	}
	p, _ := newTestPseudonymizer(t, Config{})
	chunk := benchText(1 << 20)
	chunk = chunk[:bytes.LastIndexByte(chunk, '\n')+1]
	// Warm up the lexicon and caches, then measure.
	p.Transform(context.Background(), FormatText, &generatedText{chunk: chunk, left: 4 << 20}, io.Discard)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := uint64(0)
	if _, err := p.Transform(context.Background(), FormatText, &generatedText{chunk: chunk, left: 64 << 20}, &peakWriter{peak: &peak}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if growth := int64(peak) - int64(before.HeapAlloc); growth > 64<<20 {
		t.Errorf("heap grew by %d MiB while streaming 64 MiB", growth>>20)
	}
}
