"""The word lists the question-constraints stage reads (`constraints`): countries and their demonyms,
regions, men's/women's, number words, decisive outcomes with their synonyms, and the patterns for years,
numbers and capitalised names. General vocabulary only: nothing here comes from an evaluation file."""

from __future__ import annotations

import re

from index.answering.lexical import stem

# Countries, their demonyms and short forms: one group each; any member stands for the others.
PLACE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("uk", "british", "britain", "united kingdom", "great britain", "brit", "brits"),
    ("us", "usa", "u.s.", "american", "americans", "america", "united states"),
    ("france", "french"),
    ("germany", "german", "germans"),
    ("spain", "spanish"),
    ("italy", "italian", "italians"),
    ("ireland", "irish", "republic of ireland"),
    ("scotland", "scottish", "scots"),
    ("wales", "welsh"),
    ("england", "english"),
    ("japan", "japanese"),
    ("china", "chinese"),
    ("india", "indian", "indians"),
    ("russia", "russian", "russians"),
    ("australia", "australian", "australians"),
    ("canada", "canadian", "canadians"),
    ("netherlands", "dutch", "holland"),
    ("europe", "european", "eu", "european union"),
    ("south africa", "south african"),
    ("new zealand", "new zealander", "kiwi", "kiwis"),
    ("brazil", "brazilian"),
    ("argentina", "argentine", "argentinian"),
    ("mexico", "mexican"),
    ("sweden", "swedish", "swede"),
    ("norway", "norwegian"),
    ("denmark", "danish"),
    ("finland", "finnish"),
    ("switzerland", "swiss"),
    ("belgium", "belgian"),
    ("portugal", "portuguese"),
    ("greece", "greek"),
    ("turkey", "turkish"),
    ("poland", "polish"),
    ("israel", "israeli"),
    ("iran", "iranian"),
    ("iraq", "iraqi"),
    ("north korea", "north korean", "pyongyang"),
    ("south korea", "south korean", "seoul"),
    ("pakistan", "pakistani"),
    ("kenya", "kenyan"),
    ("nigeria", "nigerian"),
    ("egypt", "egyptian"),
    ("ukraine", "ukrainian"),
    ("austria", "austrian"),
    ("croatia", "croatian"),
    ("serbia", "serbian"),
    ("czech republic", "czech"),
)
PLACE_OF = {form: group for group in PLACE_GROUPS for form in group}
REGION = re.compile(r"\b(north|south)[- ]?(east|west)(?:ern)?\b|\b(northern|southern|eastern|western)\b", re.I)
GENDER = {"men's": "men's", "mens": "men's", "women's": "women's", "womens": "women's", "ladies": "women's"}
GENDER_FORMS = {
    "men's": ("men's", "men", "male", "mens", "atp"),
    "women's": ("women's", "women", "female", "ladies", "wta"),
}
YEAR = re.compile(r"(?<![\d£$€.,])(19[5-9]\d|20[0-4]\d)(?![\d%])")
NUMBER = re.compile(r"(?<![\w.])(\d+(?:,\d{3})*(?:\.\d+)?)(?!\d)")
SPAN = re.compile(r"[A-Z][\w'’&.-]*(?:\s+(?:(?:of|the|a|de|van|von|der|du|&)\s+)*[A-Z][\w'’&.-]*)*")
TITLES = frozenset({"mr", "mrs", "ms", "dr", "sir", "lord", "lady", "miss", "prof", "professor", "st"})
NOT_NAMES = frozenset(
    {
        "who", "what", "which", "when", "where", "why", "how", "whom", "whose", "did", "does", "do", "is", "are",
        "was", "were", "has", "have", "had", "will", "would", "can", "could", "should", "in", "on", "at", "the",
        "a", "an", "and", "but", "so", "if", "according", "after", "before", "during", "name", "tell", "give",
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
        "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "i", "we", "you", "they", "he", "she", "it", "mp", "mps", "tv", "ceo", "chief",
    }
)  # fmt: skip
NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
    if value >= 2
}
ORDINALS = {
    word: f"{value}th"
    for value, word in enumerate(
        ["x", "x", "x", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
    )
    if value >= 3
}
# Decisive outcomes: the question states one as fact; the article must say it (or a synonym) somewhere.
OUTCOMES: tuple[tuple[str, ...], ...] = (
    ("convicted", "guilty", "conviction"),
    ("acquitted", "cleared", "acquittal"),
    ("jailed", "prison", "imprisoned", "sentenced", "jail"),
    ("fined", "fine", "fines"),
    ("upheld", "uphold", "upholds"),
    ("overturned", "overturn", "quashed"),
    ("readmit", "readmitted", "rejoin", "rejoined", "readmission"),
    ("sacked", "dismissed", "fired", "sacking"),
    ("resigned", "resign", "resignation", "quit", "stepped"),
    ("banned", "ban", "suspended", "suspension"),
    ("beat", "beating", "won", "win", "victory", "defeated"),
    ("lost", "lose", "defeat", "beaten", "loss"),
    ("drop", "dropped", "scrapped", "abandoned", "shelved", "ditched"),
    ("arrested", "arrest", "detained"),
    ("charged", "charge", "charges"),
    ("approved", "approve", "approval", "backed"),
    ("rejected", "reject", "rejection", "blocked"),
)
OUTCOME_OF = {stem(form): group for group in OUTCOMES for form in group}
RELATIVE_YEAR = {"this year": 0, "last year": -1, "next year": 1, "earlier this year": 0, "later this year": 0}
