package document

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluss/sluss/pseudonym"
)

// Result is what a rewrite did.
type Result struct {
	Format Format
	Counts pseudonym.Counts
}

type mode uint8

const (
	modePseudonymize mode = iota
	modeReidentify
	modeExtract // tests: the text of each unit, in job.text
)

// Pseudonymize writes to w the document read from r (size bytes) with its
// personnummer and names replaced by tokens, and returns its format and
// what it replaced. The format is taken from the document itself (the OOXML
// main part, the ODF mimetype), not from a name or a Content-Type.
//
// What is rewritten:
//
//   - the text of paragraphs (body, tables, headers, footers, footnotes and
//     endnotes, comments, text boxes, slides and notes, shared strings and
//     inline strings, ODF paragraphs in any part): the text of a paragraph
//     is joined over its formatting runs before the detectors read it, and
//     a token goes into the run where the name starts, with that run's
//     formatting; tracked insertions and deletions are read both as the
//     text is and as it was;
//   - people, whole: the authors of tracked changes and comments, initials
//     and user ids (w:author, dc:creator, cp:lastModifiedBy,
//     meta:initial-creator, the comment authors of XLSX and PPTX);
//   - document properties (title, subject, description, keywords, company,
//     custom properties), alt text, tooltips, external link targets;
//   - numbers: a spreadsheet cell (or chart value, pivot cache item, ODF
//     office:value) whose number is a personnummer of 12 or 10 digits gets
//     a numeric token of the same length, which is no personnummer (see
//     pseudonym.IsNumberToken); an ODF cell's displayed text follows it;
//   - formulas: string literals as text; header and footer text of sheets;
//   - sheet names and the file names of embedded objects, pictures and
//     media that hold a personnummer or a name become one token each, and
//     every reference to them follows;
//   - documents embedded in the document (an XLSX in a DOCX), to
//     Limits.MaxDepth;
//   - the thumbnail (a picture of the first page) is replaced by a blank
//     picture of the same size and format;
//   - XML parts in vocabularies it does not know (custom XML, SharePoint
//     properties, SVG): their text nodes, as free text.
//
// Everything else is copied byte for byte, XML markup included: the
// output differs from the input only where a value was replaced.
//
// What is refused with an error (nothing of the document may then be
// used): input that is not a zip archive or not an office document, XML
// that is not well-formed or not UTF-8, a part that does not decompress to
// what the archive says, unsafe or duplicate part names, encrypted parts
// (password-protected documents), macro projects, embedded OLE objects and
// other binary parts it cannot read, and documents past Limits.
// Pictures, fonts, media and printer settings pass as they are: text in a
// picture is not read.
func Pseudonymize(ctx context.Context, p *pseudonym.Pseudonymizer, r io.ReaderAt, size int64, w io.Writer, lim Limits) (Result, error) {
	return rewrite(ctx, p, modePseudonymize, r, size, w, lim)
}

// Reidentify writes to w the document read from r with its tokens (text
// tokens anywhere, numeric tokens where numbers stand) replaced by the
// originals, undoing Pseudonymize: a document that went through both has
// the text it had, and its XML parts are the same bytes except where a
// value's escaping or an added xml:space differs (a blanked thumbnail
// stays blank). Re-identification is a privileged operation: callers must
// check authorisation and audit it.
func Reidentify(ctx context.Context, p *pseudonym.Pseudonymizer, r io.ReaderAt, size int64, w io.Writer, lim Limits) (Result, error) {
	return rewrite(ctx, p, modeReidentify, r, size, w, lim)
}

// job is one document's rewrite: one Segments stream for all its parts
// (and the documents inside it), so that a person has one token
// throughout.
type job struct {
	ctx    context.Context
	g      *pseudonym.Segments
	mode   mode
	lim    Limits
	budget int64 // decompressed bytes left
	text   strings.Builder
}

func rewrite(ctx context.Context, p *pseudonym.Pseudonymizer, m mode, r io.ReaderAt, size int64, w io.Writer, lim Limits) (Result, error) {
	lim = lim.withDefaults()
	if size > lim.MaxBytes {
		return Result{}, fmt.Errorf("%w: the document is %d bytes, more than %d", ErrTooLarge, size, lim.MaxBytes)
	}
	g, err := p.NewSegments()
	if err != nil {
		return Result{}, err
	}
	j := &job{ctx: ctx, g: g, mode: m, lim: lim, budget: lim.MaxUncompressed}
	// Mappings are stored before any output carrying their tokens leaves,
	// in batches of at most outBatch bytes of output (a store transaction
	// each).
	out := bufio.NewWriterSize(&storeFirst{ctx: ctx, g: g, w: w}, outBatch)
	f, err := j.rewritePackage(r, size, out, 0)
	if err == nil {
		err = out.Flush()
	}
	if err == nil {
		err = g.Flush(ctx)
	}
	return Result{Format: f, Counts: g.Counts()}, err
}

// outBatch is how much output waits for one store transaction, and
// maxPending how many new mappings: both bound a transaction.
const (
	outBatch   = 256 << 10
	maxPending = 4096
)

type storeFirst struct {
	ctx context.Context
	g   *pseudonym.Segments
	w   io.Writer
}

func (s *storeFirst) Write(b []byte) (int, error) {
	if err := s.g.Flush(s.ctx); err != nil {
		return 0, err
	}
	return s.w.Write(b)
}

// limitError is an ErrTooLarge about one part.
type limitError struct {
	part int
	what string
}

func (e *limitError) Error() string {
	return fmt.Sprintf("document: part %d: %s", e.part, e.what)
}

func (e *limitError) Is(target error) bool { return target == ErrTooLarge }

// unsupported is an ErrUnsupported about one part.
func unsupported(part int, what string) error {
	return fmt.Errorf("%w: part %d is %s", ErrUnsupported, part, what)
}

// pkgState is one archive's rewrite.
type pkgState struct {
	j            *job
	zr           *zip.Reader
	format       Format
	depth        int
	sheetRenames map[string]string // pseudonymize: sheet name → token
	sheetsKnown  bool              // sheetRenames is complete (ODS: read ahead)
	partRenames  map[string]string // part name → new part name
}

// part kinds
const (
	kindUnsupported = iota
	kindDir
	kindMimetype
	kindXML
	kindThumbnail
	kindEmbedded
	kindBinary
)

var binaryExts = map[string]bool{
	// pictures
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".bmp": true, ".tif": true, ".tiff": true,
	".emf": true, ".wmf": true, ".emz": true, ".wmz": true, ".svm": true, ".wdp": true, ".jxr": true,
	".ico": true, ".webp": true, ".pict": true, ".pct": true,
	// fonts
	".odttf": true, ".ttf": true, ".otf": true, ".fntdata": true, ".woff": true, ".woff2": true,
	// media
	".mp3": true, ".mp4": true, ".m4a": true, ".m4v": true, ".wav": true, ".wma": true, ".wmv": true,
	".avi": true, ".mov": true, ".mpg": true, ".mpeg": true, ".ogg": true, ".oga": true, ".ogv": true,
}

func (ps *pkgState) kindOf(name string) int {
	if strings.HasSuffix(name, "/") {
		return kindDir
	}
	lower := strings.ToLower(name)
	ext := path.Ext(lower)
	switch {
	case lower == "mimetype" && ps.format.ODF():
		return kindMimetype
	case ps.format.ODF() && (strings.HasPrefix(lower, "basic/") || strings.HasPrefix(lower, "scripts/")):
		return kindUnsupported // a macro project
	case ps.format.ODF() && strings.HasPrefix(lower, "objectreplacements/"):
		return kindBinary // the preview picture of an embedded object
	case lower == "docprops/thumbnail.jpeg" || lower == "docprops/thumbnail.jpg" || lower == "docprops/thumbnail.png" ||
		lower == "thumbnails/thumbnail.png" || lower == "docprops/thumbnail.wmf" || lower == "docprops/thumbnail.emf":
		return kindThumbnail
	case ext == ".xml" || ext == ".rels" || ext == ".vml" || ext == ".rdf" || ext == ".svg":
		return kindXML
	}
	if _, ok := FormatFromName(lower); ok {
		return kindEmbedded
	}
	switch {
	case binaryExts[ext]:
		return kindBinary
	case strings.Contains(lower, "printersettings/") && ext == ".bin":
		return kindBinary // a DEVMODE: paper, tray, resolution
	case lower == "layout-cache" && ps.format.ODF():
		return kindBinary // LibreOffice's page layout cache: positions, no text
	case strings.HasPrefix(lower, "configurations2/") && ps.format.ODF() && !strings.HasPrefix(path.Base(lower), "."):
		if ext == "" {
			return kindBinary // empty toolbar and menu placeholders
		}
	}
	return kindUnsupported
}

func (j *job) rewritePackage(r io.ReaderAt, size int64, w io.Writer, depth int) (Format, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return "", &ParseError{Msg: "not a zip archive"}
	}
	if len(zr.File) > j.lim.MaxParts {
		return "", fmt.Errorf("%w: more than %d parts", ErrTooLarge, j.lim.MaxParts)
	}
	ps := &pkgState{j: j, zr: zr, depth: depth, sheetRenames: map[string]string{}, partRenames: map[string]string{}}
	names := map[string]bool{}
	for i, f := range zr.File {
		if err := checkName(f.Name); err != nil {
			return "", &ParseError{Part: i + 1, Msg: err.Error()}
		}
		k := strings.ToLower(f.Name)
		if names[k] {
			return "", &ParseError{Part: i + 1, Msg: "two parts have the same name"}
		}
		names[k] = true
		if f.Flags&0x1 != 0 {
			return "", unsupported(i+1, "encrypted")
		}
		u, c := f.UncompressedSize64, f.CompressedSize64
		if u > uint64(j.lim.MaxUncompressed) || u > 1<<20 && u/uint64(j.lim.MaxRatio) > c {
			return "", &limitError{part: i + 1, what: "expands past the decompression limits (a zip bomb?)"}
		}
	}
	if ps.format, err = ps.detect(); err != nil {
		return "", err
	}
	if err := ps.computePartRenames(); err != nil {
		return "", err
	}
	// Read ahead: the properties (their authors are names everywhere
	// after), the workbook (sheet names, for the formulas in the sheets
	// that come before it), and an ODS's sheet names.
	pre := map[int]*Spooled{}
	defer func() {
		for _, s := range pre {
			s.Close()
		}
	}()
	var first []int
	for i, f := range zr.File {
		switch strings.ToLower(f.Name) {
		case "docprops/core.xml", "docprops/app.xml", "docprops/custom.xml", "meta.xml":
			first = append(first, i)
		}
	}
	if wb := ps.workbookPart(); wb >= 0 {
		first = append(first, wb)
	}
	if ps.format.ODF() && j.mode == modePseudonymize {
		if err := ps.readSheetNames(); err != nil {
			return "", err
		}
	}
	for _, i := range first {
		if ps.kindOf(zr.File[i].Name) != kindXML {
			continue
		}
		s := NewSpool(j.lim)
		pre[i] = s
		if err := ps.rewriteEntry(i, s); err != nil {
			return "", err
		}
	}

	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, newFlateWriter)
	for i, f := range zr.File {
		if err := j.ctx.Err(); err != nil {
			return "", err
		}
		if err := ps.entry(zw, i, f, pre[i]); err != nil {
			return "", err
		}
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return ps.format, nil
}

// flateWriters recycles compressors: a new one allocates about 1 MiB,
// more than compressing a small part costs (archive/zip pools its
// decompressors the same way).
var flateWriters sync.Pool

func newFlateWriter(w io.Writer) (io.WriteCloser, error) {
	if fw, ok := flateWriters.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return pooledFlate{fw}, nil
	}
	fw, err := flate.NewWriter(w, flate.BestSpeed)
	return pooledFlate{fw}, err
}

type pooledFlate struct{ *flate.Writer }

func (p pooledFlate) Close() error {
	err := p.Writer.Close()
	flateWriters.Put(p.Writer)
	return err
}

// checkName refuses part names that archivers disagree on or that climb
// out of the package.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("a part without a name")
	case strings.ContainsAny(name, "\\\x00"), strings.HasPrefix(name, "/"):
		return errors.New("an unsafe part name")
	}
	for _, seg := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if seg == ".." || seg == "." || seg == "" {
			return errors.New("an unsafe part name")
		}
	}
	return nil
}

func (ps *pkgState) find(name string) *zip.File {
	for _, f := range ps.zr.File {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// detect tells the document's format from its parts.
func (ps *pkgState) detect() (Format, error) {
	if f := ps.find("mimetype"); f != nil && f.UncompressedSize64 < 128 {
		rc, err := f.Open()
		if err != nil {
			return "", &ParseError{Msg: "the mimetype part does not open"}
		}
		b, err := io.ReadAll(io.LimitReader(rc, 128))
		rc.Close()
		if err != nil {
			return "", &ParseError{Msg: "the mimetype part is corrupt"}
		}
		if fm, ok := formatOfMimetype(strings.TrimSpace(string(b))); ok {
			return fm, nil
		}
		return "", fmt.Errorf("%w: an OpenDocument kind it does not read", ErrNotDocument)
	}
	ct := ps.find("[Content_Types].xml")
	if ct == nil {
		return "", fmt.Errorf("%w: neither [Content_Types].xml nor mimetype", ErrNotDocument)
	}
	if ct.UncompressedSize64 > 4<<20 {
		return "", &limitError{part: 1, what: "[Content_Types].xml is too large"}
	}
	rc, err := ps.open(0, ct)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dec := xml.NewDecoder(io.LimitReader(rc, 4<<20))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", &ParseError{Msg: "[Content_Types].xml does not parse"}
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "Override" {
			if fm, ok := formatOfMain(attrValue(se, "", "ContentType")); ok {
				return fm, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no main document part", ErrNotDocument)
}

// workbookPart returns the index of an OOXML spreadsheet's workbook
// part, or -1.
func (ps *pkgState) workbookPart() int {
	switch ps.format {
	case XLSX, "xltx", "xlsm", "xltm":
	default:
		return -1
	}
	for i, f := range ps.zr.File {
		if strings.EqualFold(f.Name, "xl/workbook.xml") {
			return i
		}
	}
	return -1
}

// readSheetNames reads the table names of an ODF document's content.xml
// ahead of the rewrite, so that formulas that refer to a later sheet
// follow its new name.
func (ps *pkgState) readSheetNames() error {
	for i, f := range ps.zr.File {
		if !strings.EqualFold(f.Name, "content.xml") {
			continue
		}
		rc, err := ps.open(i, f)
		if err != nil {
			return err
		}
		defer rc.Close()
		dec := xml.NewDecoder(rc)
		for {
			tok, err := dec.RawToken()
			if err == io.EOF {
				break
			}
			if err != nil {
				return &ParseError{Part: i + 1, Msg: "not well-formed XML"}
			}
			se, ok := tok.(xml.StartElement)
			if !ok || se.Name.Local != "table" {
				continue
			}
			for _, at := range se.Attr {
				if at.Name.Local != "name" {
					continue
				}
				if _, done := ps.sheetRenames[at.Value]; done {
					continue
				}
				if r, ok := ps.j.g.Label([]byte(at.Value)); ok {
					ps.sheetRenames[at.Value] = string(r.Text)
				}
			}
		}
		break
	}
	ps.sheetsKnown = true
	return nil
}

// open opens a part for reading within the document's decompression
// budget.
func (ps *pkgState) open(i int, f *zip.File) (io.ReadCloser, error) {
	j := ps.j
	u := int64(f.UncompressedSize64)
	if u > j.budget {
		return nil, fmt.Errorf("%w: its parts decompress to more than %d bytes", ErrTooLarge, j.lim.MaxUncompressed)
	}
	j.budget -= u
	rc, err := f.Open()
	if err != nil {
		return nil, &ParseError{Part: i + 1, Msg: "a compression method the rewriter does not read"}
	}
	return rc, nil
}

// rewriteEntry rewrites the XML part i to w.
func (ps *pkgState) rewriteEntry(i int, w io.Writer) error {
	f := ps.zr.File[i]
	rc, err := ps.open(i, f)
	if err != nil {
		return err
	}
	defer rc.Close()
	if f.UncompressedSize64 == 0 {
		return nil
	}
	return ps.rewriteXML(i+1, f.Name, rc, w)
}

func (ps *pkgState) header(f *zip.File, method uint16) *zip.FileHeader {
	name := f.Name
	if nn, ok := ps.partRenames[name]; ok {
		name = nn
	}
	mod := f.Modified
	if mod.IsZero() {
		mod = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &zip.FileHeader{Name: name, Method: method, Modified: mod, ExternalAttrs: f.ExternalAttrs, CreatorVersion: f.CreatorVersion &^ 0xff}
}

// entry writes part i of the new archive.
func (ps *pkgState) entry(zw *zip.Writer, i int, f *zip.File, pre *Spooled) error {
	switch ps.kindOf(f.Name) {
	case kindDir:
		_, err := zw.CreateHeader(ps.header(f, zip.Store))
		return err
	case kindMimetype:
		// Stored, first, without a data descriptor: ODF readers sniff it.
		rc, err := ps.open(i, f)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(rc, 128))
		rc.Close()
		if err != nil {
			return &ParseError{Part: i + 1, Msg: "the part is corrupt"}
		}
		h := ps.header(f, zip.Store)
		h.CRC32 = crc32.ChecksumIEEE(b)
		h.CompressedSize64, h.UncompressedSize64 = uint64(len(b)), uint64(len(b))
		w, err := zw.CreateRaw(h)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case kindXML:
		w, err := zw.CreateHeader(ps.header(f, zip.Deflate))
		if err != nil {
			return err
		}
		if pre != nil {
			_, err = io.Copy(w, pre.Reader())
			return err
		}
		return ps.rewriteEntry(i, w)
	case kindThumbnail:
		return ps.thumbnail(zw, i, f)
	case kindEmbedded:
		return ps.embedded(zw, i, f)
	case kindBinary:
		if nn, ok := ps.partRenames[f.Name]; !ok || nn == f.Name {
			if f.Method == zip.Store || f.Method == zip.Deflate {
				return ps.entryAsBinary(zw, i, f)
			}
		}
		// Renamed, or compressed in a way the new archive does not keep.
		rc, err := ps.open(i, f)
		if err != nil {
			return err
		}
		defer rc.Close()
		w, err := zw.CreateHeader(ps.header(f, zip.Deflate))
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, rc); err != nil {
			return &ParseError{Part: i + 1, Msg: "the part is corrupt"}
		}
		return nil
	}
	return unsupported(i+1, "an embedded object or macro project the gateway cannot read")
}

// embedded rewrites a document inside the document.
func (ps *pkgState) embedded(zw *zip.Writer, i int, f *zip.File) error {
	j := ps.j
	if ps.depth+1 > j.lim.MaxDepth {
		return unsupported(i+1, "a document nested deeper than the limit")
	}
	rc, err := ps.open(i, f)
	if err != nil {
		return err
	}
	in := NewSpool(j.lim)
	defer in.Close()
	_, err = io.Copy(in, rc)
	rc.Close()
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return &ParseError{Part: i + 1, Msg: "the part is corrupt"}
	}
	out := NewSpool(j.lim)
	defer out.Close()
	if _, err := j.rewritePackage(in, in.Size(), out, ps.depth+1); err != nil {
		return fmt.Errorf("in the document embedded as part %d: %w", i+1, err)
	}
	w, err := zw.CreateHeader(ps.header(f, zip.Deflate))
	if err != nil {
		return err
	}
	_, err = io.Copy(w, out.Reader())
	return err
}

// thumbnail writes a blank picture in place of the document's thumbnail,
// which shows its first page.
func (ps *pkgState) thumbnail(zw *zip.Writer, i int, f *zip.File) error {
	if ps.j.mode != modePseudonymize {
		return ps.entryAsBinary(zw, i, f)
	}
	rc, err := ps.open(i, f)
	if err != nil {
		return err
	}
	defer rc.Close()
	ext := strings.ToLower(path.Ext(f.Name))
	if ext != ".png" && ext != ".jpeg" && ext != ".jpg" {
		return unsupported(i+1, "a thumbnail in a format the gateway cannot blank")
	}
	cfg, _, err := image.DecodeConfig(io.LimitReader(rc, 1<<20))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		cfg.Width, cfg.Height = 16, 16
	}
	blank, err := blankPicture(min(cfg.Width, 1024), min(cfg.Height, 1024), ext != ".png")
	if err != nil {
		return err
	}
	w, err := zw.CreateHeader(ps.header(f, zip.Deflate))
	if err != nil {
		return err
	}
	_, err = w.Write(blank)
	return err
}

type blankKey struct {
	w, h int
	jpeg bool
}

// blanks keeps the blank pictures made so far (thumbnails come in a few
// sizes), up to maxBlanks of them.
var (
	blanks sync.Map
	blankN atomic.Int32
)

const maxBlanks = 64

// blankPicture returns a white PNG or JPEG of w×h pixels.
func blankPicture(w, h int, asJPEG bool) ([]byte, error) {
	k := blankKey{w, h, asJPEG}
	if b, ok := blanks.Load(k); ok {
		return b.([]byte), nil
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	var err error
	if asJPEG {
		err = jpeg.Encode(&buf, img, nil)
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	}
	if err != nil {
		return nil, err
	}
	if blankN.Add(1) <= maxBlanks {
		blanks.Store(k, buf.Bytes())
	}
	return buf.Bytes(), nil
}

func (ps *pkgState) entryAsBinary(zw *zip.Writer, i int, f *zip.File) error {
	raw, err := f.OpenRaw()
	if err != nil {
		return &ParseError{Part: i + 1, Msg: "the part does not open"}
	}
	h := ps.header(f, f.Method)
	h.CRC32, h.CompressedSize64, h.UncompressedSize64 = f.CRC32, f.CompressedSize64, f.UncompressedSize64
	w, err := zw.CreateRaw(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, raw)
	return err
}
