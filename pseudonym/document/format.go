package document

import (
	"bytes"
	"mime"
	"path"
	"strings"
)

// Format is the kind of a document, named by its usual file extension.
type Format string

// The formats Pseudonymize reads. Templates, slide shows and the
// macro-enabled variants are read too; a macro-enabled document is refused
// all the same unless it holds no macros (see Pseudonymize).
const (
	DOCX Format = "docx"
	XLSX Format = "xlsx"
	PPTX Format = "pptx"
	ODT  Format = "odt"
	ODS  Format = "ods"
	ODP  Format = "odp"
)

type formatInfo struct {
	f         Format
	mediaType string // as a Content-Type
	main      string // OOXML: the content type of the main part; ODF: the mimetype file
}

const (
	ooxml = "application/vnd.openxmlformats-officedocument."
	odf   = "application/vnd.oasis.opendocument."
)

var formats = []formatInfo{
	{DOCX, ooxml + "wordprocessingml.document", ooxml + "wordprocessingml.document.main+xml"},
	{"dotx", ooxml + "wordprocessingml.template", ooxml + "wordprocessingml.template.main+xml"},
	{"docm", "application/vnd.ms-word.document.macroenabled.12", "application/vnd.ms-word.document.macroEnabled.main+xml"},
	{"dotm", "application/vnd.ms-word.template.macroenabled.12", "application/vnd.ms-word.template.macroEnabledTemplate.main+xml"},
	{XLSX, ooxml + "spreadsheetml.sheet", ooxml + "spreadsheetml.sheet.main+xml"},
	{"xltx", ooxml + "spreadsheetml.template", ooxml + "spreadsheetml.template.main+xml"},
	{"xlsm", "application/vnd.ms-excel.sheet.macroenabled.12", "application/vnd.ms-excel.sheet.macroEnabled.main+xml"},
	{"xltm", "application/vnd.ms-excel.template.macroenabled.12", "application/vnd.ms-excel.template.macroEnabled.main+xml"},
	{PPTX, ooxml + "presentationml.presentation", ooxml + "presentationml.presentation.main+xml"},
	{"ppsx", ooxml + "presentationml.slideshow", ooxml + "presentationml.slideshow.main+xml"},
	{"potx", ooxml + "presentationml.template", ooxml + "presentationml.template.main+xml"},
	{"pptm", "application/vnd.ms-powerpoint.presentation.macroenabled.12", "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml"},
	{"ppsm", "application/vnd.ms-powerpoint.slideshow.macroenabled.12", "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml"},
	{"potm", "application/vnd.ms-powerpoint.template.macroenabled.12", "application/vnd.ms-powerpoint.template.macroEnabled.main+xml"},
	{ODT, odf + "text", odf + "text"},
	{"ott", odf + "text-template", odf + "text-template"},
	{ODS, odf + "spreadsheet", odf + "spreadsheet"},
	{"ots", odf + "spreadsheet-template", odf + "spreadsheet-template"},
	{ODP, odf + "presentation", odf + "presentation"},
	{"otp", odf + "presentation-template", odf + "presentation-template"},
	{"odg", odf + "graphics", odf + "graphics"},
	{"otg", odf + "graphics-template", odf + "graphics-template"},
}

// ContentType is the media type of the format, as a Content-Type.
func (f Format) ContentType() string {
	for _, fi := range formats {
		if fi.f == f {
			return fi.mediaType
		}
	}
	return "application/octet-stream"
}

// ODF reports whether the format is an OpenDocument one.
func (f Format) ODF() bool { return strings.HasPrefix(f.ContentType(), odf) }

// FormatFromContentType returns the format a Content-Type names; ok is
// false for any other type (application/octet-stream and application/zip
// included: see FormatFromName and IsZip).
func FormatFromContentType(contentType string) (f Format, ok bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false
	}
	for _, fi := range formats {
		if strings.EqualFold(mt, fi.mediaType) {
			return fi.f, true
		}
	}
	return "", false
}

// FormatFromName returns the format a file name's extension names.
func FormatFromName(name string) (f Format, ok bool) {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	for _, fi := range formats {
		if string(fi.f) == ext {
			return fi.f, true
		}
	}
	return "", false
}

// IsZip reports whether head starts like a zip archive, as every document
// does.
func IsZip(head []byte) bool { return bytes.HasPrefix(head, []byte("PK\x03\x04")) }

// GenericType reports whether a Content-Type says nothing of what a body
// is (none, application/octet-stream, application/zip), so that the file
// name and the bytes must tell whether it is a document.
func GenericType(contentType string) bool {
	if strings.TrimSpace(contentType) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch mt {
	case "application/octet-stream", "application/zip", "application/x-zip-compressed", "binary/octet-stream":
		return true
	}
	return false
}

// formatOfMain returns the format whose OOXML main part has content type
// ct.
func formatOfMain(ct string) (Format, bool) {
	for _, fi := range formats {
		if !strings.HasPrefix(fi.mediaType, odf) && strings.EqualFold(fi.main, ct) {
			return fi.f, true
		}
	}
	return "", false
}

// formatOfMimetype returns the format of an ODF mimetype file.
func formatOfMimetype(mt string) (Format, bool) {
	for _, fi := range formats {
		if strings.HasPrefix(fi.mediaType, odf) && fi.main == mt {
			return fi.f, true
		}
	}
	return "", false
}
