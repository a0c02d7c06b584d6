// faker_names.mjs prints "given<TAB>Name" and "surname<TAB>Name" lines from
// @faker-js/faker's person definitions. Swedish first, then neighbouring and
// common immigrant-language locales with Latin script.
// Usage: node faker_names.mjs /path/to/node_modules/@faker-js/faker
const dir = process.argv[2];
const { allLocales } = await import(dir + "/dist/index.js");
const locales = ["sv", "nb_NO", "da", "fi", "de", "en", "es", "fr", "pl", "it", "nl", "pt_BR", "tr", "hr", "sk", "cs_CZ"];
const out = new Set();
const flat = (v) => (Array.isArray(v) ? v : Object.values(v || {}).flat());
for (const l of locales) {
  const p = allLocales[l]?.person;
  if (!p) continue;
  for (const n of flat(p.first_name)) out.add("given\t" + n);
  for (const n of flat(p.middle_name)) out.add("given\t" + n);
  for (const n of flat(p.last_name)) if (typeof n === "string") out.add("surname\t" + n);
}
for (const line of [...out].sort()) console.log(line);
