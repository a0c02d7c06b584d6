// Package document pseudonymizes office documents inside: the personnummer
// and names in a DOCX, XLSX or PPTX (Office Open XML) or an ODT, ODS or ODP
// (OpenDocument) file become tokens, and the file stays a valid document
// of the same kind, which the service it is uploaded to can open, index
// and show.
//
// For most uses, call Pseudonymize on an upload and Reidentify on a
// download, with a pseudonym.Pseudonymizer:
//
//	sp, err := document.Spool(r, lim)          // the upload, held for random access
//	res, err := document.Pseudonymize(ctx, p, sp, sp.Size(), w, lim)
//	res, err = document.Reidentify(ctx, p, sp, sp.Size(), w, lim)
//
// A document is a zip archive of XML parts; Pseudonymize reads it through
// io.ReaderAt (a zip is read from its central directory at the end) and
// writes the new archive to w as it goes. What it rewrites, and how, is in
// Pseudonymize's documentation; what it refuses (a file that does not
// parse, an embedded object it cannot read, a zip bomb) is an error, and
// what was written to w before it must be discarded. PDF files are not
// documents here: a PDF is encrypted by the gateway, never pseudonymized.
//
// Memory is bounded per document by Limits, whatever its size: XML parts
// stream token by token, and only one paragraph, cell or property is held
// at a time. Errors never quote the document: they name a part by its
// number and say what was wrong.
package document
