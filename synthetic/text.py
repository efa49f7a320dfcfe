"""Words of the synthetic dataset's captions: the lexicon, HumanML3D word/POS tokens, and mirroring of text.

HumanML3D stores each description as `caption#word/POS word/POS ...#start#end` where the tokens come from spaCy
`en_core_web_sm` (HumanML3D text_process.py): hyphens removed, non-alphabetic tokens dropped, NOUN and VERB
lemmatised except the word "left", POS = spaCy's coarse tag (possessives like "his" are DET, as in the released
files). We produce the same format without spaCy: every caption word is in the hand lexicon below (verbs with
their -s / -ing forms, nouns with their plurals), and a few context rules settle the ambiguous words
(left/right/straight/fast: ADJ before a noun, NOUN after a determiner, ADV otherwise; a verb form after a
determiner, adjective, number, or a preposition unless it ends in -ing, is a noun; after "to" it is a verb; "to"
before a verb is PART). Mirrored copies swap left<->right and clockwise<->counterclockwise, as HumanML3D did for
its "M" ids. The templates that use these words: synthetic/captions.py.

Used by synthetic/build.py; tested in tests/test_synthetic.py (python -m pytest -q tests/test_synthetic.py).
"""
import re

# ----------------------------------------------------------------------------------------------------------------
# Lexicon
# ----------------------------------------------------------------------------------------------------------------

VERBS = ("walk stroll move go take jog run sprint dash step shuffle sidestep turn rotate spin twirl do perform jump "
         "leap hop balance spread squat crouch bend rise stand get sit lower kneel drop wave raise lift put hold "
         "stretch clap applaud kick punch throw jab bow lean veer back face come swing bounce march stride pace "
         "trot amble wander head travel cross proceed advance retreat pivot whirl spring bound vault skip kneel "
         "greet salute signal gesture beckon celebrate cheer reach extend push strike hit box fight spar dodge "
         "bend nod thank finish start begin end repeat continue make look keep pause wait rest seat settle think "
         "plant stomp fling pump shake flap tie pick propose pray catch chase escape exercise train warm "
         "hurry rush glide tiptoe proceed bolt charge race speed slide shift swivel change pop motion slap shadowbox "
         "incline hoist boot perch plop play answer avoid call grab hail let say touch give follow pass score circle "
         "curve steer dunk pet wear hustle loop land launch hurl dip drag").split()
DOUBLED = set("run jog step hop sit get put squat spin clap jab drop sidestep skip nod plan plant dip drag "
              "begin stop trot pop slap plop let pet".split())    # running, sitting, ... (doubled final consonant)
NOUN_WORDS = (
    "person man woman human figure circle curve path line pace direction place spot degree chair seat air arm hand "
    "leg foot knee head side fist waist jack step turn spin kick punch bow squat time guy boy girl child kid lady "
    "adult dancer athlete character individual teenager gentleman performer player subject somebody stick "
    "stride jump leap hop wave gesture greeting motion movement exercise workout routine sequence series set "
    "repetition speed rhythm tempo beat room hallway corridor floor ground street sidewalk road park door "
    "kitchen yard garden beach track field stage office store house building window table car bus station "
    "friend crowd audience camera attention goodbye hello ball target opponent boxer fight bag obstacle puddle "
    "gap shoe celebration victory joy excitement surprise warmup gym race distance height way manner effort "
    "style form posture body torso chest shoulder elbow wrist toe heel hip back front middle start end "
    "sign music song dance martial artist move wall corner block lap trail bench stool box ledge floor "
    "hopscotch game teacher coach class partner neighbour someone mirror balance rest moment second "
    "swing slope breath energy enthusiasm care caution hurry rush fun applause show performance respect "
    "greeting thanks ceiling bit lot inch actor actress aisle avatar ballerina basketball bedroom branch "
    "classroom colleague concert confidence court crab crack danger desk determination dinner dog doorway driver "
    "ease fan fence fitness football forest fridge frisbee goal grass hesitation hospital karate lawn lobby "
    "mailbox mannequin marathon mat mood morning museum noise parking part pavement platform playground plaza pole "
    "practice prayer purpose question rain river robot rope runner runway session skater smile soldier speaker "
    "stair stranger stream student taxi team thief toddler trampoline triumph wedding worker machine coffee "
    "elevator exit square finish living train dancer bridge counter shore reception printer garage hall balcony "
    "sofa studio pier mall gate bathroom flower library bakery canal microphone direction palm round upper hips "
    "sky star word silence look expression way stop airport bed bell businessman cat chef church clown "
    "coast doctor dress evening farmer father fountain glass graduation grandfather grandmother gymnast hat hiker "
    "hurdle meadow model mother musician nurse ocean officer party passenger police rescue shoelace sound "
    "sportsman suit theater pilot tourist waiter winner work ticket sink bookshelf restaurant tent campsite tunnel "
    "school").split()
IRREGULAR_PLURALS = {"feet": "foot", "children": "child", "people": "person", "men": "man", "women": "woman"}
ADJECTIVES = (
    "slow quick short full half opposite several few small big same high curved long large tiny wide narrow "
    "deep shallow low brisk leisurely gentle energetic vigorous powerful strong light heavy steady fast rapid "
    "careful casual calm relaxed confident happy excited lazy tired young old tall little huge proper good "
    "normal regular natural comfortable smooth sudden sharp wide imaginary invisible soccer martial friendly "
    "polite respectful formal graceful playful nervous cautious determined straight front back upright "
    "forward backward sideways quick other next first final last single double triple small whole entire "
    "passing distant nearby empty open busy crowded firm loose stiff bouncy springy lively aged cheerful easy "
    "elderly muscular skinny slim slight sporty possible departing wooden serious focused bored calm "
    "upper late").split()
ADVERBS = (
    "forward forwards ahead backwards backward sideways clockwise counterclockwise then again together once "
    "twice slowly quickly briskly lightly repeatedly still back first around finally afterwards next later "
    "rapidly swiftly leisurely gently energetically vigorously powerfully carefully casually calmly cautiously "
    "confidently happily lazily steadily hastily gracefully playfully excitedly enthusiastically wildly "
    "firmly loosely stiffly smoothly suddenly sharply slightly deeply widely fully halfway very really quite "
    "just only also high low far away slightly politely respectfully proudly joyfully briefly continuously "
    "rhythmically naturally normally straight down up over upward upwards downward all so too almost fast "
    "immediately soon right left along cheerfully deliberately gradually "
    "effortlessly eagerly patiently quietly boldly thoughtfully laterally onward overhead merrily".split())
WORDS = {}
for _pos, _words in {
    "NOUN": " ".join(NOUN_WORDS),
    "DET": "a an the his her their both some its this that each every another no",
    "PRON": "someone somebody he she something it himself herself themselves itself",
    "ADP": "with in on at to of into over above up down out along like from across through toward towards "
           "around behind beside by for onto past under without as near off about during",
    "ADV": " ".join(ADVERBS),
    "ADJ": " ".join(ADJECTIVES),
    "NUM": "one two three four five six ninety hundred eighty",
    "CCONJ": "and or but", "AUX": "is", "SCONJ": "while before after as if", "PART": "not",
}.items():
    WORDS.update({w: (w, _pos) for w in _words.split()})
WORDS.update({"before": ("before", "ADP"), "after": ("after", "ADP"), "up": ("up", "ADP"),
              "down": ("down", "ADP"), "back": ("back", "ADV"), "forward": ("forward", "ADV"),
              "first": ("first", "ADV"), "straight": ("straight", "ADV"), "somebody": ("somebody", "PRON"),
              "someone": ("someone", "PRON"), "something": ("something", "PRON"), "half": ("half", "ADJ"),
              "as": ("as", "ADP"), "if": ("if", "SCONJ"), "fast": ("fast", "ADV"), "high": ("high", "ADV"),
              "low": ("low", "ADV"), "left": ("left", "ADV"), "right": ("right", "ADV"), "long": ("long", "ADJ"),
              "warmup": ("warmup", "NOUN"), "rest": ("rest", "NOUN"), "start": ("start", "NOUN")})
WORDS.update({w: (l, "NOUN") for w, l in IRREGULAR_PLURALS.items()})
AMBIGUOUS = {"left", "right", "straight", "fast"}          # ADJ before a noun / NOUN after a determiner / else ADV


def _plural(n):
    if n.endswith("y") and n[-2] not in "aeiou":
        return n[:-1] + "ies"
    return n + ("es" if n.endswith(("s", "sh", "ch", "x", "z")) else "s")


PLURALS = {_plural(n): n for n in NOUN_WORDS}
PLURALS.update(IRREGULAR_PLURALS)


def _third(v):
    if v.endswith("y") and v[-2] not in "aeiou":
        return v[:-1] + "ies"
    return v + ("es" if v.endswith(("s", "sh", "ch", "x", "z", "o")) else "s")


def _ing(v):
    if v in DOUBLED:
        return v + v[-1] + "ing"
    if v.endswith("ie"):
        return v[:-2] + "ying"
    return (v[:-1] if v.endswith("e") and not v.endswith(("ee", "ye", "oe")) else v) + "ing"


VERB_FORMS = {}
for _v in VERBS:
    VERB_FORMS.update({_v: _v, _third(_v): _v, _ing(_v): _v})


def tokens(caption):
    """HumanML3D tokens ["word/POS", ...] of a caption (lower-cased, hyphens removed, punctuation dropped).

    Raises KeyError naming the word if a word is not in the lexicon (every template word must be).
    """
    words = re.findall(r"[a-z]+", caption.lower().replace("-", ""))
    tags = []
    for i, w in enumerate(words):
        prev = tags[i - 1][1] if i else None
        nxt = words[i + 1] if i + 1 < len(words) else ""
        nxt_noun = nxt in PLURALS or WORDS.get(nxt, ("", ""))[1] == "NOUN"
        if w in AMBIGUOUS:
            tags.append((w, "ADJ" if nxt_noun else "NOUN" if prev == "DET" else "ADV"))
        elif w == "to":
            tags.append((w, "PART" if nxt in VERBS else "ADP"))
        elif w in VERB_FORMS and prev == "PART":                         # "to greet"
            tags.append((VERB_FORMS[w], "VERB"))
        elif w in VERB_FORMS and (prev in ("DET", "ADJ", "NUM") or prev == "ADP" and not w.endswith("ing")):
            tags.append((PLURALS.get(w, w if w.endswith("ing") else VERB_FORMS[w]), "NOUN"))   # "a bow", "three squats"
        elif w in VERB_FORMS and w not in WORDS:
            tags.append((VERB_FORMS[w], "VERB"))
        elif w in PLURALS and w not in WORDS:
            tags.append((PLURALS[w], "NOUN"))
        elif w in WORDS:
            tags.append(WORDS[w])
        else:
            raise KeyError(f"synthetic/text.py: word {w!r} of caption {caption!r} is not in the lexicon")
    return [f"{lemma}/{pos}" for lemma, pos in tags]


def caption_line(caption):
    """One texts/<id>.txt line: `caption#word/POS ...#0.0#0.0` (the caption covers the whole clip)."""
    return f"{caption}#{' '.join(tokens(caption))}#0.0#0.0"


_SWAP = {"left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise"}


def mirror_text(text):
    """Swap left<->right and clockwise<->counterclockwise (whole words), as for HumanML3D's mirrored "M" ids."""
    return re.sub(r"\b(left|right|clockwise|counterclockwise)\b", lambda m: _SWAP[m.group(1)], text)
