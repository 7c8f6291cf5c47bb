"""Abbreviations said in full for the embedded engine's French, Italian, Portuguese and Hindi voices.

eSpeak spells them out: "M. Martin" is "emme Martin", "Sr. Silva" "esse erre Silva", "sig. Rossi" "sig Rossi".
A title is expanded only before a name (a capitalised word: "Me Dupont", but "Me voici"), a page or number
mark only before a number, the rest wherever it stands. (English has its own rules in `normalize`, Spanish
NeMo's grammar, Chinese needs none.)
"""
from __future__ import annotations

import re

_BEFORE_NAME = "name"
_BEFORE_NUMBER = "number"
_ANYWHERE = "anywhere"

_ABBREVIATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "fr": {
        "M.": ("Monsieur", _BEFORE_NAME), "MM.": ("Messieurs", _BEFORE_NAME), "Mme": ("Madame", _BEFORE_NAME),
        "Mmes": ("Mesdames", _BEFORE_NAME), "Mlle": ("Mademoiselle", _BEFORE_NAME),
        "Mlles": ("Mesdemoiselles", _BEFORE_NAME), "Dr": ("Docteur", _BEFORE_NAME), "Dr.": ("Docteur", _BEFORE_NAME),
        "Pr": ("Professeur", _BEFORE_NAME), "Pr.": ("Professeur", _BEFORE_NAME), "Me": ("Maître", _BEFORE_NAME),
        "Mgr": ("Monseigneur", _BEFORE_NAME),
        "n°": ("numéro", _BEFORE_NUMBER), "no": ("numéro", _BEFORE_NUMBER), "p.": ("page", _BEFORE_NUMBER),
        "chap.": ("chapitre", _BEFORE_NUMBER), "fig.": ("figure", _BEFORE_NUMBER), "env.": ("environ", _BEFORE_NUMBER),
        "c.-à-d.": ("c'est-à-dire", _ANYWHERE), "etc.": ("et cetera.", _ANYWHERE),
        "av. J.-C.": ("avant Jésus-Christ", _ANYWHERE), "apr. J.-C.": ("après Jésus-Christ", _ANYWHERE),
        "p. ex.": ("par exemple", _ANYWHERE),
    },
    "it": {
        "sig.": ("signor", _BEFORE_NAME), "Sig.": ("Signor", _BEFORE_NAME), "sig.ra": ("signora", _BEFORE_NAME),
        "Sig.ra": ("Signora", _BEFORE_NAME), "sig.na": ("signorina", _BEFORE_NAME),
        "Sig.na": ("Signorina", _BEFORE_NAME), "dott.": ("dottor", _BEFORE_NAME), "Dott.": ("Dottor", _BEFORE_NAME),
        "dott.ssa": ("dottoressa", _BEFORE_NAME), "Dott.ssa": ("Dottoressa", _BEFORE_NAME),
        "prof.": ("professor", _BEFORE_NAME), "Prof.": ("Professor", _BEFORE_NAME),
        "prof.ssa": ("professoressa", _BEFORE_NAME), "Prof.ssa": ("Professoressa", _BEFORE_NAME),
        "avv.": ("avvocato", _BEFORE_NAME), "Avv.": ("Avvocato", _BEFORE_NAME), "ing.": ("ingegner", _BEFORE_NAME),
        "Ing.": ("Ingegner", _BEFORE_NAME), "S.ta": ("Santa", _BEFORE_NAME), "S.to": ("Santo", _BEFORE_NAME),
        "n.": ("numero", _BEFORE_NUMBER), "pag.": ("pagina", _BEFORE_NUMBER), "p.": ("pagina", _BEFORE_NUMBER),
        "cap.": ("capitolo", _BEFORE_NUMBER), "fig.": ("figura", _BEFORE_NUMBER),
        "ecc.": ("eccetera.", _ANYWHERE), "p. es.": ("per esempio", _ANYWHERE), "a.C.": ("avanti Cristo", _ANYWHERE),
        "d.C.": ("dopo Cristo", _ANYWHERE),
    },
    "pt": {
        "Sr.": ("Senhor", _BEFORE_NAME), "Sra.": ("Senhora", _BEFORE_NAME), "Srta.": ("Senhorita", _BEFORE_NAME),
        "Dr.": ("Doutor", _BEFORE_NAME), "Dra.": ("Doutora", _BEFORE_NAME), "Prof.": ("Professor", _BEFORE_NAME),
        "Profa.": ("Professora", _BEFORE_NAME), "Av.": ("Avenida", _BEFORE_NAME),
        "n.º": ("número", _BEFORE_NUMBER), "nº": ("número", _BEFORE_NUMBER), "pág.": ("página", _BEFORE_NUMBER),
        "p.": ("página", _BEFORE_NUMBER), "cap.": ("capítulo", _BEFORE_NUMBER), "séc.": ("século", _ANYWHERE),
        "etc.": ("etcétera.", _ANYWHERE), "a.C.": ("antes de Cristo", _ANYWHERE), "d.C.": ("depois de Cristo", _ANYWHERE),
    },
    "hi": {
        "डॉ.": ("डॉक्टर", _BEFORE_NAME), "प्रो.": ("प्रोफ़ेसर", _BEFORE_NAME), "श्री.": ("श्री", _BEFORE_NAME),
        "पृ.": ("पृष्ठ", _BEFORE_NUMBER),
    },
}
_FOLLOWS = {_BEFORE_NAME: r"(?=\s+[«\"“‘]?[A-ZÀ-ÖØ-Þ\u0900-\u097f])", _BEFORE_NUMBER: r"(?=\s*\d)", _ANYWHERE: ""}


def _pattern(table: dict[str, tuple[str, str]]) -> re.Pattern:
    alternatives = []
    for written in sorted(table, key=len, reverse=True):
        before = r"(?<![\w.])" if re.match(r"\w", written) else ""
        after = r"(?!\w)" if re.search(r"\w$", written) else ""
        alternatives.append(f"(?:{before}{re.escape(written)}{after}{_FOLLOWS[table[written][1]]})")
    return re.compile("|".join(alternatives))


_PATTERNS = {language: _pattern(table) for language, table in _ABBREVIATIONS.items()}


def expand_abbreviations(text: str, language: str) -> str:
    """`text` with the abbreviations of `language` ("fr-fr", "it", "pt-br", "hi") said in full."""
    primary = language.split("-")[0]
    if primary not in _PATTERNS:
        return text
    table = _ABBREVIATIONS[primary]
    return _PATTERNS[primary].sub(lambda m: table[m.group()][0], text)
