package gateway

import (
	"errors"
	"testing"
)

func TestParseMediaParams(t *testing.T) {
	for _, tc := range []struct {
		in, filename string
		err          error
	}{
		{`attachment; filename="a b.pdf"`, "a b.pdf", nil},
		{`attachment; filename*=UTF-8''19121212-1212%20Tolvan.pdf`, "19121212-1212 Tolvan.pdf", nil},
		{`attachment; filename="x.pdf"; filename*=iso-8859-1'sv'%C5sa.pdf`, "Åsa.pdf", nil},
		{`attachment; filename*=windows-1252''%8Aimon.pdf`, "Šimon.pdf", nil},
		{`attachment; filename*0*=utf-8''%C3%85sa; filename*1=" Berg.pdf"`, "Åsa Berg.pdf", nil},
		{`attachment; filename="=?UTF-8?B?w4VzYS5wZGY=?="`, "Åsa.pdf", nil},
		{`attachment; filename="=?ISO-8859-1?Q?=C5sa.pdf?="`, "Åsa.pdf", nil},
		{`form-data; name=a; filename="C:\dir\f.txt"`, `C:\dir\f.txt`, nil},
		{`attachment; filename*=koi8-r''abc`, "", errParamCharset},
		{`attachment; filename="=?koi8-r?B?YWJj?="`, "", errParamCharset},
		{`attachment; filename*=utf-8''%zz`, "", errParamSyntax},
		{`attachment; filename=a; filename=b`, "", errParamSyntax},
		{`attachment; filename*1=a`, "", errParamSyntax},
		{`attachment; filename`, "", errParamSyntax},
		{`attach ment`, "", errParamSyntax},
	} {
		_, params, err := parseMediaParams(tc.in)
		if !errors.Is(err, tc.err) || err == nil && params["filename"] != tc.filename {
			t.Errorf("%q: %q, %v", tc.in, params["filename"], err)
		}
	}
}
