"""Abbreviations said in full for the embedded engine's Spanish, French, Italian, Portuguese and Hindi voices.

eSpeak spells them out: "M. Martin" is "emme Martin", "Sr. Silva" "esse erre Silva", "sig. Rossi" "sig Rossi",
"MM. les jurés" "millimètre les jurés". Each entry says where it is one:
- `NAME`: a title before a name ("Me Dupont", but "Me voici"; not "J. M. G. Le Clézio", "M. K. Gandhi") or a
  name's particle ("M. de Villefort", "M. le maire");
- `TITLE`: a title wherever it stands ("O Sr. disse");
- `NUMBER`: before a number ("p. 42");
- `ANYWHERE`: anywhere, and where it ends a sentence its full stop still does ("44 av. J.-C. Puis ...").
"D." before a king's or queen's name is "Dom" or "Dona" (pt), "Don" or "Doña" (es). A form that opens a sentence
keeps its capital. (English has its own rules in `normalize`, Chinese needs none.)
"""
from __future__ import annotations

import re

from indexstudio.text.regnal import KINGS, QUEENS

NAME, TITLE, NUMBER, ANYWHERE = "name", "title", "number", "anywhere"

_ABBREVIATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "es": {
        "Sr.": ("señor", TITLE), "Sra.": ("señora", TITLE), "Srta.": ("señorita", TITLE), "Sres.": ("señores", TITLE),
        "Dr.": ("doctor", NAME), "Dra.": ("doctora", NAME), "Ud.": ("usted", ANYWHERE), "Uds.": ("ustedes", ANYWHERE),
        "Vd.": ("usted", ANYWHERE), "Vds.": ("ustedes", ANYWHERE), "D.ª": ("doña", TITLE), "Dña.": ("doña", TITLE),
        "Lic.": ("licenciado", NAME), "Ing.": ("ingeniero", NAME), "Avda.": ("avenida", NAME),
        "pág.": ("página", NUMBER), "págs.": ("páginas", NUMBER), "n.º": ("número", NUMBER), "núm.": ("número", NUMBER),
        "art.": ("artículo", NUMBER), "cap.": ("capítulo", NUMBER), "EE. UU.": ("Estados Unidos", ANYWHERE),
        "a. C.": ("antes de Cristo", ANYWHERE), "d. C.": ("después de Cristo", ANYWHERE),
        "a. m.": ("de la mañana", ANYWHERE), "p. m.": ("de la tarde", ANYWHERE), "etc.": ("etcétera", ANYWHERE),
    },
    "fr": {
        "M.": ("Monsieur", NAME), "MM.": ("Messieurs", NAME), "Mme": ("Madame", NAME),
        "Mmes": ("Mesdames", NAME), "Mlle": ("Mademoiselle", NAME), "Mlles": ("Mesdemoiselles", NAME),
        "Dr": ("Docteur", NAME), "Dr.": ("Docteur", NAME), "Pr": ("Professeur", NAME), "Pr.": ("Professeur", NAME),
        "Me": ("Maître", NAME), "Mgr": ("Monseigneur", NAME),
        "n°": ("numéro", NUMBER), "no": ("numéro", NUMBER), "p.": ("page", NUMBER), "chap.": ("chapitre", NUMBER),
        "fig.": ("figure", NUMBER), "env.": ("environ", NUMBER),
        "c.-à-d.": ("c'est-à-dire", ANYWHERE), "etc.": ("et cetera", ANYWHERE), "cf.": ("confer", ANYWHERE),
        "av. J.-C.": ("avant Jésus-Christ", ANYWHERE), "apr. J.-C.": ("après Jésus-Christ", ANYWHERE),
        "p. ex.": ("par exemple", ANYWHERE),
    },
    "it": {
        "sig.": ("signor", NAME), "Sig.": ("Signor", NAME), "sig.ra": ("signora", NAME), "Sig.ra": ("Signora", NAME),
        "sig.na": ("signorina", NAME), "Sig.na": ("Signorina", NAME), "dott.": ("dottor", TITLE),
        "Dott.": ("Dottor", TITLE), "dott.ssa": ("dottoressa", TITLE), "Dott.ssa": ("Dottoressa", TITLE),
        "prof.": ("professor", NAME), "Prof.": ("Professor", NAME), "prof.ssa": ("professoressa", TITLE),
        "Prof.ssa": ("Professoressa", TITLE), "avv.": ("avvocato", NAME), "Avv.": ("Avvocato", NAME),
        "ing.": ("ingegner", NAME), "Ing.": ("Ingegner", NAME), "S.ta": ("Santa", NAME), "S.to": ("Santo", NAME),
        "n.": ("numero", NUMBER), "pag.": ("pagina", NUMBER), "p.": ("pagina", NUMBER), "cap.": ("capitolo", NUMBER),
        "fig.": ("figura", NUMBER), "sec.": ("secolo", ANYWHERE),
        "ecc.": ("eccetera", ANYWHERE), "p. es.": ("per esempio", ANYWHERE), "a.C.": ("avanti Cristo", ANYWHERE),
        "d.C.": ("dopo Cristo", ANYWHERE),
    },
    "pt": {
        "Sr.": ("Senhor", TITLE), "Sra.": ("Senhora", TITLE), "Srta.": ("Senhorita", TITLE),
        "Dr.": ("Doutor", NAME), "Dra.": ("Doutora", NAME), "Prof.": ("Professor", NAME),
        "Profa.": ("Professora", NAME), "Av.": ("Avenida", NAME),
        "n.º": ("número", NUMBER), "nº": ("número", NUMBER), "pág.": ("página", NUMBER),
        "p.": ("página", NUMBER), "cap.": ("capítulo", NUMBER), "séc.": ("século", ANYWHERE),
        "etc.": ("etcétera", ANYWHERE), "a.C.": ("antes de Cristo", ANYWHERE), "d.C.": ("depois de Cristo", ANYWHERE),
    },
    "hi": {
        "डॉ.": ("डॉक्टर", NAME), "प्रो.": ("प्रोफ़ेसर", NAME), "श्री.": ("श्री", NAME), "पृ.": ("पृष्ठ", NUMBER),
    },
}
# a name: a capitalised word that is no initial ("K. Gandhi") nor a French sentence's opening word ("un grand M.
# Puis ..."), or a particle ("M. de Villefort", "M. le maire", "M. et Mme Dupont")
_OPENERS = ("Puis|Il|Elle|Ils|Elles|Et|Mais|Je|Tu|Nous|Vous|On|Ce|Cette|Ces|Un|Une|Des|Quand|Alors|Enfin|Ensuite"
            "|Donc|Si|Au|Aux|En|Dans|Sur|Pour|Par|Avec|Les")
_FOLLOWS = {NAME: rf"(?=\s+(?:[«\"“‘]?[A-ZÀ-ÖØ-Þ\u0900-\u097f](?!\.)|(?:de|d['’]|du|des|del|della|di|da|do"
                  rf"|dos|das|le|la|les|l['’]|et)\b))(?!\s+(?:{_OPENERS})\b)",
            TITLE: "", NUMBER: r"(?=\s*\d)", ANYWHERE: ""}
_DON = {"es": ("Don", "Doña"), "pt": ("Dom", "Dona")}


def _pattern(table: dict[str, tuple[str, str]]) -> re.Pattern:
    alternatives = []
    for written in sorted(table, key=len, reverse=True):
        before = r"(?<![\w.])" if re.match(r"\w", written) else ""
        before += r"(?<![A-Z]\. )" if table[written][1] == NAME else ""       # (J. M. G. Le Clézio: initials)
        after = r"(?!\w)" if re.search(r"\w$", written) else ""
        alternatives.append(f"(?:{before}{re.escape(written)}{after}{_FOLLOWS[table[written][1]]})")
    return re.compile("|".join(alternatives))


_PATTERNS = {language: _pattern(table) for language, table in _ABBREVIATIONS.items()}
_SENTENCE_START = re.compile(r"(?:^|[.!?…]\s+|[¿¡«\"“—]\s*)$")
_NEXT_SENTENCE = re.compile(r"\s*(?:$|[«\"“—¿¡]?[A-ZÀ-ÖØ-Þ])")


def expand_abbreviations(text: str, language: str) -> str:
    """`text` with the abbreviations of `language` ("es", "fr-fr", "it", "pt-br", "hi") said in full."""
    primary = language.split("-")[0]
    if primary not in _PATTERNS:
        return text
    table = _ABBREVIATIONS[primary]

    def said(m: re.Match) -> str:
        written = m.group()
        spoken, where = table[written]
        if _SENTENCE_START.search(text[max(0, m.start() - 3):m.start()]):
            spoken = spoken[:1].upper() + spoken[1:]
        if where == ANYWHERE and written.endswith(".") and _NEXT_SENTENCE.match(text, m.end()):
            spoken += "."                                     # (it ended its sentence too)
        return spoken
    text = _PATTERNS[primary].sub(said, text)
    if primary in _DON:
        don, dona = _DON[primary]
        text = re.sub(r"(?<![\w.])D\.(?=\s+(\w+))", lambda m: dona if m.group(1) in QUEENS else don
                      if m.group(1) in KINGS else m.group(), text)
    return text
