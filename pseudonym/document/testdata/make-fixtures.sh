#!/usr/bin/env bash
# make-fixtures.sh: remake the office documents in this directory from the
# flat ODF sources in src/ with LibreOffice (Debian libreoffice-writer,
# -calc, -impress; headless). The sources are hand-written so that the
# personal data sits where the document pseudonymizer must find it: names
# split over formatting runs (a bold "Tol" + "van"), headers and footers,
# comments, footnotes, tracked changes (a deletion and an insertion),
# document properties (initial creator, creator, title), a table, and in
# the spreadsheet personnummer as numbers (12 and 10 digits) and as text,
# a comment on a cell and a formula holding a name.
#
#   testdata/make-fixtures.sh        # writes letter.{odt,docx}, register.{ods,xlsx}, slides.{odp,pptx}
#
# The outputs are committed; the tests use them as they are, and run
# soffice only to check that pseudonymized documents still open.
set -euo pipefail
cd "$(dirname "$0")"
command -v soffice >/dev/null || { echo "make-fixtures.sh: soffice not found (apt-get install libreoffice-writer libreoffice-calc libreoffice-impress)" >&2; exit 1; }

# A profile of its own, so a desktop LibreOffice's settings do not leak in.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
convert() { # FORMAT FILE…
	local fmt=$1
	shift
	soffice -env:UserInstallation=file://"$profile" --headless --convert-to "$fmt" --outdir . "$@" >/dev/null
}
convert odt src/letter.fodt
convert docx src/letter.fodt
convert ods src/register.fods
convert xlsx src/register.fods
convert odp src/slides.fodp
convert pptx src/slides.fodp
ls -l letter.odt letter.docx register.ods register.xlsx slides.odp slides.pptx
