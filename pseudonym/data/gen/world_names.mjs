// world_names.mjs prints "given<TAB>Name" and "surname<TAB>Name" lines for
// the names of every @faker-js/faker locale that faker_names.mjs leaves out:
// the Latin-script ones as they are, Ukrainian and Russian transliterated
// (the Ukrainian national system of 2010, and for Russian both the ICAO 9303
// passport system and the BGN/PCGN spelling common in the press), and a
// folded variant of each name with letters outside Swedish (Şahin → Sahin,
// Hodžić → Hodzic), as Swedish registers often write them. Multi-word
// entries (Vietnamese "Bình Minh") give each word.
// Usage: node world_names.mjs /path/to/node_modules/@faker-js/faker
const dir = process.argv[2];
const { allLocales } = await import(dir + "/dist/index.js");

// Already read by faker_names.mjs, or no person names in a usable script.
const skip = new Set(["sv", "nb_NO", "da", "fi", "de", "en", "es", "fr", "pl", "it", "nl", "pt_BR", "tr", "hr", "sk", "cs_CZ", "en_BORK", "eo"]);
const latin = /^[\p{Script=Latin}'’\- ]+$/u;

const uk = { а: "a", б: "b", в: "v", г: "h", ґ: "g", д: "d", е: "e", є: "ie", ж: "zh", з: "z", и: "y", і: "i", ї: "i", й: "i", к: "k", л: "l", м: "m", н: "n", о: "o", п: "p", р: "r", с: "s", т: "t", у: "u", ф: "f", х: "kh", ц: "ts", ч: "ch", ш: "sh", щ: "shch", ь: "", ю: "iu", я: "ia", "'": "", "’": "" };
// At the start of a word є, ї, й, ю, я are written ye, yi, y, yu, ya.
const ukInitial = { є: "ye", ї: "yi", й: "y", ю: "yu", я: "ya" };
const ruICAO = { а: "a", б: "b", в: "v", г: "g", д: "d", е: "e", ё: "e", ж: "zh", з: "z", и: "i", й: "i", к: "k", л: "l", м: "m", н: "n", о: "o", п: "p", р: "r", с: "s", т: "t", у: "u", ф: "f", х: "kh", ц: "ts", ч: "ch", ш: "sh", щ: "shch", ъ: "ie", ы: "y", ь: "", э: "e", ю: "iu", я: "ia" };
const ruBGN = { ...ruICAO, й: "y", ъ: "", ю: "yu", я: "ya", е: "e" };

function translit(name, table, initial) {
  let out = "";
  let prev = " ";
  for (const ch of name) {
    const lower = ch.toLowerCase();
    const start = prev === " " || prev === "-";
    let t = start && initial && initial[lower] !== undefined ? initial[lower] : table[lower];
    if (initial && prev === "з" && lower === "г") t = "gh"; // зг is zgh in Ukrainian
    if (t === undefined) t = ch === "-" || ch === " " ? ch : "";
    if (ch !== lower && t) t = t[0].toUpperCase() + t.slice(1);
    out += t;
    prev = lower;
  }
  return out;
}

// fold drops diacritics and maps letters outside Swedish to their usual
// Latin spelling, keeping å, ä, ö (Swedish letters in their own right).
function fold(name) {
  const keep = { å: "\u0001", ä: "\u0002", ö: "\u0003", Å: "\u0004", Ä: "\u0005", Ö: "\u0006" };
  const back = Object.fromEntries(Object.entries(keep).map(([k, v]) => [v, k]));
  const special = { ß: "ss", ø: "o", Ø: "O", æ: "ae", Æ: "Ae", đ: "d", Đ: "D", ł: "l", Ł: "L", ı: "i", þ: "th", Þ: "Th", ð: "d", Ð: "D", œ: "oe", Œ: "Oe", ə: "a", Ə: "A", "’": "'" };
  let s = "";
  for (const ch of name) s += keep[ch] ?? special[ch] ?? ch;
  s = s.normalize("NFD").replace(/\p{M}/gu, "");
  return [...s].map((c) => back[c] ?? c).join("");
}

const flat = (v) => (Array.isArray(v) ? v : Object.values(v || {}).flat());
const out = new Set();
const add = (cls, n) => {
  for (const w of n.split(/\s+/)) {
    if (w.length < 2 || !/^\p{Lu}/u.test(w)) continue;
    out.add(cls + "\t" + w);
    const f = fold(w);
    if (f !== w && /^[A-Za-zÅÄÖåäö'\-]+$/.test(f)) out.add(cls + "\t" + f);
  }
};
for (const [l, d] of Object.entries(allLocales)) {
  const p = d.person;
  if (!p || skip.has(l)) continue;
  const lists = [
    ["given", flat(p.first_name).concat(flat(p.middle_name))],
    ["surname", flat(p.last_name).filter((n) => typeof n === "string")],
  ];
  for (const [cls, names] of lists) {
    for (const n of names) {
      if (l === "uk") add(cls, translit(n, uk, ukInitial));
      else if (l === "ru") {
        add(cls, translit(n, ruICAO));
        add(cls, translit(n, ruBGN));
      } else if (latin.test(n)) add(cls, n);
    }
  }
}
// The same folding for the locales faker_names.mjs reads as they are.
for (const l of skip) {
  const p = allLocales[l]?.person;
  if (!p || l === "en_BORK" || l === "eo") continue;
  for (const n of flat(p.first_name).concat(flat(p.middle_name))) if (fold(n) !== n) add("given", fold(n));
  for (const n of flat(p.last_name)) if (typeof n === "string" && fold(n) !== n) add("surname", fold(n));
}
for (const line of [...out].sort()) console.log(line);
