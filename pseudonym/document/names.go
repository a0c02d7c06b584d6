package document

// XML namespaces the rewriter knows, by a short id. Strict OOXML uses its
// own URIs for the same vocabularies; they map to the same ids.
type nsID uint8

const (
	nsOther nsID = iota
	nsW          // WordprocessingML
	nsA          // DrawingML
	nsS          // SpreadsheetML
	nsP          // PresentationML
	nsC          // DrawingML charts
	nsCP         // core properties
	nsDC         // Dublin Core
	nsDCTerms
	nsApp    // extended properties
	nsCustom // custom properties
	nsVT     // property value types
	nsRels   // package relationships
	nsCT     // [Content_Types].xml
	nsThreaded
	nsP188 // PowerPoint 2018 comments
	nsW14
	nsW15
	nsVML
	nsXML
	nsText // OpenDocument
	nsOffice
	nsTable
	nsMeta
	nsDraw
	nsSVG
	nsManifest
	nsXlink
	nsConfig
	nsChart
	nsPresentation
)

var namespaces = map[string]nsID{
	"http://schemas.openxmlformats.org/wordprocessingml/2006/main":              nsW,
	"http://purl.oclc.org/ooxml/wordprocessingml/main":                          nsW,
	"http://schemas.openxmlformats.org/drawingml/2006/main":                     nsA,
	"http://purl.oclc.org/ooxml/drawingml/main":                                 nsA,
	"http://schemas.openxmlformats.org/spreadsheetml/2006/main":                 nsS,
	"http://purl.oclc.org/ooxml/spreadsheetml/main":                             nsS,
	"http://schemas.openxmlformats.org/presentationml/2006/main":                nsP,
	"http://purl.oclc.org/ooxml/presentationml/main":                            nsP,
	"http://schemas.openxmlformats.org/drawingml/2006/chart":                    nsC,
	"http://purl.oclc.org/ooxml/drawingml/chart":                                nsC,
	"http://schemas.openxmlformats.org/package/2006/metadata/core-properties":   nsCP,
	"http://purl.org/dc/elements/1.1/":                                          nsDC,
	"http://purl.org/dc/terms/":                                                 nsDCTerms,
	"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties": nsApp,
	"http://purl.oclc.org/ooxml/officeDocument/extendedProperties":              nsApp,
	"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties":   nsCustom,
	"http://purl.oclc.org/ooxml/officeDocument/customProperties":                nsCustom,
	"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes":      nsVT,
	"http://purl.oclc.org/ooxml/officeDocument/docPropsVTypes":                  nsVT,
	"http://schemas.openxmlformats.org/package/2006/relationships":              nsRels,
	"http://schemas.openxmlformats.org/package/2006/content-types":              nsCT,
	"http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments":   nsThreaded,
	"http://schemas.microsoft.com/office/powerpoint/2018/8/main":                nsP188,
	"http://schemas.microsoft.com/office/word/2010/wordml":                      nsW14,
	"http://schemas.microsoft.com/office/word/2012/wordml":                      nsW15,
	"urn:schemas-microsoft-com:vml":                                             nsVML,
	"urn:schemas-microsoft-com:office:office":                                   nsVML,
	"urn:schemas-microsoft-com:office:excel":                                    nsVML,
	"urn:schemas-microsoft-com:office:word":                                     nsVML,
	"http://www.w3.org/XML/1998/namespace":                                      nsXML,
	"urn:oasis:names:tc:opendocument:xmlns:text:1.0":                            nsText,
	"urn:oasis:names:tc:opendocument:xmlns:office:1.0":                          nsOffice,
	"urn:oasis:names:tc:opendocument:xmlns:table:1.0":                           nsTable,
	"urn:oasis:names:tc:opendocument:xmlns:meta:1.0":                            nsMeta,
	"urn:oasis:names:tc:opendocument:xmlns:drawing:1.0":                         nsDraw,
	"urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0":                  nsSVG,
	"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0":                        nsManifest,
	"http://www.w3.org/1999/xlink":                                              nsXlink,
	"urn:oasis:names:tc:opendocument:xmlns:config:1.0":                          nsConfig,
	"urn:oasis:names:tc:opendocument:xmlns:chart:1.0":                           nsChart,
	"urn:oasis:names:tc:opendocument:xmlns:presentation:1.0":                    nsPresentation,
}
