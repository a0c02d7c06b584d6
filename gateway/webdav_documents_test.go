package gateway

import "testing"

func TestDocumentEntry(t *testing.T) {
	for entry, want := range map[string]bool{
		`<d:response><d:href>/remote.php/dav/files/u/sl_name1_abc.docx</d:href><d:propstat><d:prop><d:getcontentlength>9</d:getcontentlength></d:prop></d:propstat></d:response>`: true,
		`<response><href>/dav/a%20b.XLSX</href></response>`:                                            true,
		`<d:response><d:href>https://cloud.example.com/dav/r&amp;d.odt</d:href></d:response>`:          true,
		`<d:response><d:href>/dav/a.bin</d:href></d:response>`:                                         false,
		`<d:response><d:href>/dav/docs.docx/</d:href><d:resourcetype><d:collection/></d:resourcetype>`: false,
		`<d:response><d:href>/dav/a.pdf</d:href></d:response>`:                                         false,
	} {
		if got := documentEntry([]byte(entry)); got != want {
			t.Errorf("documentEntry(%s) = %v, want %v", entry, got, want)
		}
	}
}
