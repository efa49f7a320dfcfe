"""Captions of the synthetic dataset: verb-phrase templates of each primitive, style and context modifiers, and the
sentence structures that chain them, including the held-out ones of the test_novel split.

Each primitive of synthetic/actions.py has a list of verb phrases ("^walk forward", "^wave {p} {s} hand") that may
name its style ("slowly", "with long strides", "a high jump", "a small wave"): a phrase or modifier naming a style
is only offered when the clip was made with that style (MANNER, keyed by the categorical parameters of
synthetic.actions.PARAMS), so a caption is honoured by its motion, while unnamed parameters still vary. Context
phrases ("across the room", "to greet a friend"), attitudes ("casually") and ~70 subjects add words without
changing the motion. A chain of 2-3 primitives is glued by a sentence structure ("then", "before ...ing", "after
that", "starts by ...ing", "and finally", "ends by ...ing").

Held-out phrasings (the test_novel split, see synthetic/splits.py): the sentence structures are split in two.
TRAIN_GLUE serves train/val/test; NOVEL_GLUE serves test_novel only. NOVEL_GLUE reorders clauses and recombines
connectives ("after walking forward, a person jumps"; "a person starts by walking and ends by jumping") using only
words the training structures use too, so test_novel words occur in training captions (the evaluator's word vectors
are learned on the train split) while no test_novel caption can equal a training caption.

Verb markers: ^verb is conjugated ("walks" / "walking"), ~verb is always "-ing" (it follows while / by / without),
so "jumps while spreading his arms" cannot come out as "jumps while spreads". Words and tokens: synthetic/text.py.

Used by synthetic/build.py; tested in tests/test_synthetic.py (python -m pytest -q tests/test_synthetic.py).
"""
import re

from synthetic.text import _ing, _third

# ----------------------------------------------------------------------------------------------------------------
# Verb phrases: ^verb is conjugated ("walks" / "walking"), ~verb is always "-ing" (after while / by / before);
# {p} possessive, {s} side, {c} curve or rotation, {r} repetitions ("twice"), {n} number ("three")
# ----------------------------------------------------------------------------------------------------------------

REPS = {1: ["once"], 2: ["twice", "two times"], 3: ["three times"], 4: ["four times"], 5: ["five times"]}
NUMS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
FAST = ["quickly", "rapidly", "swiftly", "at a fast pace", "in a hurry"]
SLOW = ["slowly", "at a slow pace", "calmly", "without hurrying", "leisurely"]


def _walk(p):
    if p["curve"] in ("left", "right"):
        base = ["^walk forward while ~turn to the {c}", "^walk in a curve to the {c}", "^walk forward and ^veer {c}",
                "^walk along a curved path to the {c}", "^walk and gradually ^turn {c}",
                "^curve to the {c} while ~walk",
                "^follow a path that ^bend to the {c}"]
    elif p["curve"] in ("clockwise", "counterclockwise"):
        base = ["^walk in a circle {c}", "^walk in a {c} circle", "^walk around in a {c} circle",
                "^walk {c} in a circle", "^make a full circle {c} on foot", "^walk a lap in a {c} direction"]
    else:
        base = ["^walk forward", "^walk straight ahead", "^walk straight", "^move forward", "^take a few steps "
                "forward", "^walk ahead", "^walk forward in a straight line", "^head forward on foot",
                "^walk a short distance forward", "^go for a walk forward",
                "^proceed forward", "^advance forward on foot", "^travel forward on foot", "^make {p} way forward",
                "^continue forward", "^cross the floor", "^walk onward"]
    speed = {"slow": ["^walk slowly forward", "^stroll forward", "slowly ^walk ahead", "^walk forward at a slow "
                      "pace", "^amble forward", "^wander slowly ahead", "^walk forward leisurely"],
             "fast": ["^walk quickly forward", "^walk fast", "briskly ^walk ahead", "^walk forward at a quick pace",
                      "^hurry forward", "^walk forward in a hurry", "^march quickly ahead", "^walk briskly forward"],
             "normal": ["^walk forward at a normal pace", "^walk forward steadily", "^walk at a steady pace"]}
    return base + (speed[p["speed"]] if p["curve"] == "straight" else [])


TEMPLATES = {
    "stand": lambda p: ["^stand still"],
    "walk": _walk,
    "walk_backward": lambda p: ["^walk backwards", "^walk backward", "^step backwards", "^take a few steps back",
                                "^move backwards", "^back up", "^retreat backwards", "^walk back a few steps"]
                               + (["^walk back slowly", "slowly ^back up", "carefully ^step backwards",
                                   "^take slow steps backwards"] if p["speed"] == "slow" else []),
    "jog": lambda p: ["^jog forward", "^jog", "^jog in a straight line", "^jog ahead", "^run slowly forward",
                      "lightly ^jog forward", "^trot forward", "^jog at an easy pace", "^go for a short jog",
                      "^run at a gentle pace", "^jog lightly ahead", "^do a slow run forward"],
    "run": lambda p: ["^run forward", "^run", "^sprint forward", "^run fast", "^run quickly ahead", "^dash forward",
                      "^run straight ahead", "^rush forward", "^start to run fast", "^bolt forward",
                      "^charge ahead", "^race forward", "^speed ahead",
                      "^run at full speed"],
    "side_step": lambda p: ["^sidestep to the {s}", "^step sideways to the {s}", "^shuffle to the {s}",
                            "^move sideways to the {s}", "^walk sideways to the {s}", "^take small steps to the {s}",
                            "^shuffle sideways toward the {s}", "^step to the {s} side",
                            "^slide to the {s}", "^shift sideways to the {s}", "^step laterally to the {s}"],
    "turn": lambda p: (["^turn {s}", "^turn to the {s}", "^turn ninety degrees to the {s}", "^rotate to the {s}",
                        "^turn {s} in place", "^pivot to the {s}", "^turn to {p} {s}", "^swivel to the {s}",
                        "^change direction to the {s}", "^rotate {p} body to the {s}"] if p["angle"] == 90 else
                       ["^turn around", "^turn around to the {s}", "^turn to face the opposite direction",
                        "^do a half turn to the {s}", "^turn around {c}", "^turn a hundred and eighty degrees",
                        "^turn to face the other way", "^pivot around to the {s}"])
                      + {"slow": ["slowly ^turn {s}", "^turn slowly to the {s}"], "normal": [],
                         "fast": ["quickly ^turn {s}", "^turn sharply to the {s}", "^turn {s} suddenly"]}[p["tempo"]],
    "spin": lambda p: ["^spin around", "^spin {c}", "^spin in a full circle", "^twirl around",
                       "^turn a full circle {c}", "^do a full spin to the {s}", "^spin around to the {s}",
                       "^whirl around {c}", "^spin on the spot"]
                      + {"slow": ["slowly ^spin around", "^turn slowly in a full circle"], "normal": [],
                         "fast": ["quickly ^spin around", "^spin around rapidly", "^twirl quickly"]}[p["tempo"]],
    "jump": lambda p: (["^jump {r}", "^jump in place {r}", "^jump up {r}", "^jump up and down", "^jump on the spot",
                        "^leap up {r}", "^jump straight up", "^do {n} jumps", "^bounce up and down {r}"]
                       if p["reps"] > 1 else
                       ["^jump", "^jump in place", "^jump up", "^jump on the spot", "^leap up", "^jump straight up",
                        "^jump up once", "^do a jump", "^spring up", "^jump into the air",
                        "^pop up into the air", "^hop up with both feet"])
                      + {"small": ["^jump a little", "^do a small jump", "^jump only slightly", "^make a tiny jump",
                                   "^jump just a bit off the ground"][:5 if p["reps"] == 1 else 1] +
                                  ["^do {n} small jumps", "^jump lightly {r}"][:2 if p["reps"] > 1 else 0],
                         "normal": [],
                         "high": ["^jump high", "^jump high into the air", "^do a high jump", "^leap high",
                                  "^jump as high as possible"][:5 if p["reps"] == 1 else 1] +
                                 ["^do {n} high jumps", "^jump very high {r}"][:2 if p["reps"] > 1 else 0]}[p["size"]],
    "jump_forward": lambda p: (["^jump forward", "^leap forward", "^jump forward with both feet", "^jump ahead",
                                "^leap ahead", "^do a jump forward"] if p["reps"] == 1 else
                               ["^jump forward {r}", "^leap forward {r}", "^jump ahead {r}", "^jump forward repeatedly",
                                "^do {n} jumps forward"])
                              + {"short": ["^jump a short distance forward", "^do a small jump forward"],
                                 "normal": [],
                                 "long": ["^jump far forward", "^do a long jump forward", "^leap a long way ahead"]
                                 }[p["size"]],
    "hop": lambda p: ["^hop on {p} {s} leg", "^hop on one leg", "^hop on {p} {s} foot", "^jump on {p} {s} leg",
                      "^hop {r} on {p} {s} foot", "^balance on {p} {s} leg and ^hop", "^hop on one foot",
                      "^hop on {p} {s} foot as if ~play hopscotch",
                      "^hop in place on {p} {s} leg", "^bounce on {p} {s} leg"]
                     + (["^hop forward on {p} {s} leg", "^hop ahead on one foot"] if p["fwd"] else []),
    "jumping_jacks": lambda p: ["^do jumping jacks", "^perform jumping jacks", "^do a few jumping jacks",
                                "^do {n} jumping jacks", "^jump while ~spread {p} arms and legs",
                                "^do a set of jumping jacks", "^perform {n} jumping jacks",
                                "^do star jumps", "^perform star jumps"]
                               + {"slow": ["^do jumping jacks slowly", "slowly ^perform jumping jacks"],
                                  "normal": [],
                                  "fast": ["^do jumping jacks quickly", "rapidly ^perform jumping jacks",
                                           "^do fast jumping jacks"]}[p["tempo"]],
    "squat": lambda p: (["^squat", "^squat down and ^stand back up", "^do a squat", "^crouch down and ^rise again",
                         "^bend {p} knees and ^squat down", "^lower {p} body into a squat", "^drop into a squat",
                         "^bend {p} legs and ^lower {p} hips"] if p["reps"] == 1 else
                        ["^squat {r}", "^squat down {r}", "^do {n} squats", "^squat down and up {r}",
                         "^squat repeatedly", "^do a set of {n} squats"])
                       + {"shallow": ["^squat only halfway down", "^do a shallow squat", "^bend {p} knees slightly"],
                          "normal": [],
                          "deep": ["^squat all the way down", "^do a deep squat", "^squat down deeply"]}[p["size"]]
                       + {"slow": ["^squat slowly"], "normal": [], "fast": ["^squat quickly"]}[p["tempo"]],
    "sit_stand": lambda p: ["^sit down and ^stand up", "^sit down and then ^get up", "^sit down on a chair and "
                            "^stand back up", "^lower into a seat and ^rise again", "^sit down and ^get back up",
                            "^take a seat and then ^stand up again", "^sit on a bench and ^get up",
                            "^sit down on a stool and ^stand up",
                            "^perch on a chair and ^rise", "^sit briefly and ^stand again",
                            "^plop down on a seat and ^stand back up"]
                           + (["slowly ^sit down and carefully ^stand up", "^sit down slowly and ^get up"]
                              if p["tempo"] == "slow" else []),
    "kneel": lambda p: ["^kneel on {p} {s} knee", "^kneel down on {p} {s} knee and ^get back up",
                        "^go down on one knee", "^kneel down and ^stand up again", "^drop to {p} {s} knee",
                        "^get down on {p} {s} knee and ^rise", "^kneel briefly on one knee",
                        "^kneel down as if to tie a shoe", "^lower {p} {s} knee to the floor",
                        "^take a knee", "^crouch onto one knee"],
    "wave": lambda p: (["^wave with both hands", "^wave both arms", "^raise both hands and ^wave",
                        "^wave both hands above {p} head", "^wave with both arms over {p} head"]
                       if p["side"] == "both" else
                       ["^wave with {p} {s} hand", "^wave {p} {s} hand", "^raise {p} {s} hand and ^wave",
                        "^wave {p} {s} arm", "^lift {p} {s} hand and ^wave it", "^wave hello with {p} {s} hand",
                        "^greet someone with {p} {s} hand", "^signal with {p} {s} hand", "^flap {p} {s} hand",
                        "^wave {p} {s} palm in the air", "^motion with {p} {s} hand"])
                      + {"small": ["^give a small wave", "^wave a little", "^wave gently"], "normal": [],
                         "big": ["^give a big wave", "^wave widely", "^wave with big motions"]}[p["size"]]
                      + {"slow": ["^wave slowly"], "normal": [],
                         "fast": ["^wave quickly", "^wave rapidly", "^wave excitedly"]}[p["tempo"]],
    "raise_arms": lambda p: ((["^raise both arms", "^raise {p} arms above {p} head", "^lift both arms up",
                               "^put both hands up", "^raise {p} hands over {p} head",
                               "^raise both arms in victory", "^reach for the sky",
                               "^hoist both arms", "^stretch {p} arms overhead",
                               "^throw both arms up in the air"] if p["style"] == "up"
                              else ["^raise {p} arms to the sides", "^stretch {p} arms out to the sides",
                                    "^hold {p} arms out to the side", "^lift both arms out sideways",
                                    "^extend both arms sideways"])
                             if p["side"] == "both" else
                             (["^raise {p} {s} arm", "^lift {p} {s} hand up", "^raise {p} {s} hand above {p} head",
                               "^put {p} {s} hand up", "^reach up with {p} {s} hand"] if p["style"] == "up" else
                              ["^raise {p} {s} arm to the side", "^stretch {p} {s} arm out to the side",
                               "^lift {p} {s} arm sideways", "^extend {p} {s} arm to the side"])),
    "clap": lambda p: ["^clap", "^clap {p} hands", "^clap a few times", "^clap {p} hands together",
                       "^applaud", "^clap {p} hands {r}", "^clap {n} times",
                       "^give a round of applause", "^put {p} hands together", "^slap {p} palms together"]
                      + {"slow": ["^clap slowly", "^clap {p} hands slowly"], "normal": [],
                         "fast": ["^clap quickly", "^clap {p} hands rapidly", "^clap fast"]}[p["tempo"]],
    "kick": lambda p: ["^kick with {p} {s} leg", "^kick {p} {s} leg forward", "^kick with {p} {s} foot",
                       "^kick forward with {p} {s} foot", "^kick something with {p} {s} leg", "^kick",
                       "^kick an imaginary ball with {p} {s} foot", "^do a front kick with {p} {s} leg",
                       "^swing {p} {s} leg forward in a kick", "^boot an imaginary ball with {p} {s} foot"]
                      + {"low": ["^do a low kick with {p} {s} leg", "^kick low with {p} {s} foot"], "normal": [],
                         "high": ["^kick high with {p} {s} leg", "^do a high kick with {p} {s} foot",
                                  "^kick {p} {s} leg up high"]}[p["height"]],
    "punch": lambda p: (["^punch with both fists", "^throw punches", "^punch the air", "^throw a few punches",
                         "^punch forward with both hands", "^box the air", "^punch like a boxer",
                         "^swing {p} fists", "^shadowbox"]
                        if p["side"] == "both" else
                        ["^punch with {p} {s} hand", "^throw a punch with {p} {s} hand",
                         "^punch forward with {p} {s} fist", "^jab with {p} {s} arm", "^punch {r} with {p} {s} fist",
                         "^strike forward with {p} {s} fist"])
                       + {"slow": ["^punch slowly"], "normal": [],
                          "fast": ["^punch quickly", "^throw quick punches"]}[p["tempo"]],
    "bow": lambda p: ["^bow", "^bow down", "^bend forward at the waist", "^take a bow", "^bow forward",
                      "^lean forward and ^bow", "^bend over and then ^stand back up", "^bow politely",
                      "^bend {p} upper body forward", "^incline {p} torso forward", "^lower {p} head and torso"]
                     + {"slight": ["^bow slightly", "^give a small bow", "^nod with a slight bow"], "normal": [],
                        "deep": ["^bow deeply", "^take a deep bow", "^bow low"]}[p["size"]],
}

# Manner modifiers (appended to a verb phrase): only those true of the clip's style parameters are offered.
MANNER = {
    ("walk", "stride", "short"): ["with short steps", "taking small steps", "with tiny steps"],
    ("walk", "stride", "long"): ["with long strides", "taking big steps", "with large steps"],
    ("walk", "arms", "still"): ["with {p} arms still", "without ~swing {p} arms", "keeping {p} arms by {p} sides"],
    ("walk", "arms", "big"): ["while ~swing {p} arms widely", "swinging {p} arms a lot", "with big arm swings"],
    ("walk", "speed", "slow"): SLOW,
    ("walk", "speed", "fast"): FAST,
    ("walk_backward", "speed", "slow"): ["slowly", "carefully", "cautiously"],
    ("jumping_jacks", "tempo", "fast"): ["quickly", "energetically", "at a fast pace"],
    ("jumping_jacks", "tempo", "slow"): ["slowly", "at a slow pace"],
    ("clap", "tempo", "fast"): ["quickly", "at a fast pace", "excitedly"],
    ("clap", "tempo", "slow"): ["slowly", "at a slow pace"],
    ("punch", "tempo", "fast"): ["quickly", "rapidly"],
    ("squat", "tempo", "slow"): ["slowly", "with care"],
    ("squat", "tempo", "fast"): ["quickly", "at a fast pace"],
    ("wave", "tempo", "fast"): ["quickly", "rapidly"],
    ("wave", "tempo", "slow"): ["slowly"],
    ("spin", "tempo", "fast"): ["quickly", "rapidly"],
    ("turn", "tempo", "fast"): ["quickly"],
    ("turn", "tempo", "slow"): ["slowly"],
    ("sit_stand", "tempo", "slow"): ["slowly", "carefully"],
}
STYLE_WORDS = {w for ms in MANNER.values() for m in ms for w in re.findall(r"[a-z]+", m) if len(w) > 3} | set(
    "little small big high low deep shallow fast slow quick gently widely excitedly far slightly sharply "
    "suddenly hurry briskly steadily normal".split())   # a phrase with one of these already names a style
# Context phrases: words about purpose or setting that do not change the motion.
CONTEXT = {
    "walk_straight": ["across the room", "down the hallway", "along a corridor", "toward the door", "on the sidewalk",
                      "down the street", "through the park", "across the stage", "into the kitchen", "along the beach",
                      "across the yard", "toward a table", "to the window", "on a track", "past a car",
                      "toward the bus stop", "through the office", "into the store", "to a friend",
                      "toward the elevator", "down the aisle", "into the bedroom", "across the parking lot",
                      "through the forest", "along the river", "toward the exit", "to the front desk",
                      "toward the stairs", "along the platform", "across the lobby", "through the museum",
                      "down the path", "to the mailbox", "along the fence", "across the bridge", "through the doorway",
                      "into the classroom", "toward the counter", "across the plaza", "down the runway",
                      "toward a colleague", "to the coffee machine", "through a hospital hallway",
                      "along the shore", "across the lawn", "through the garden", "into the living room",
                      "toward the fridge", "down the road", "across the square", "on a wooden floor",
                      "toward the reception",
                      "to the printer", "into the garage", "along the hall", "onto the balcony", "toward the sofa",
                      "toward the mirror", "across the studio", "along the pier", "through the mall", "toward the gate",
                      "to the bathroom", "across a field of flowers", "through the library", "toward the bakery",
                      "down the pier", "to the elevator", "along the canal", "up to the microphone",
                      "toward the window",
                      "through the airport", "to the ticket machine", "along the corridor of a school",
                      "into the church", "toward the kitchen sink", "across the street", "to the bookshelf",
                      "through the crowd", "toward the taxi", "to the restaurant", "across the dance floor",
                      "past the fountain", "toward the tent", "across the campsite", "through the tunnel"],
    "walk_circle": ["around a table", "around the room", "in the yard", "around an imaginary pole", "on the lawn"],
    "jog": ["in the park", "for exercise", "as a warmup", "on a track", "along the road", "down the street",
            "along the river", "through the forest", "on the grass", "before a game", "in the morning",
            "in the evening", "on a trail",
            "along the coast", "with a dog"],
    "run": ["to catch a bus", "on a track", "in a race", "across the field", "down the street", "to catch a train",
            "toward the finish line", "in a marathon", "across the court", "on the grass", "through the rain",
            "after a thief", "away from danger", "to the goal",
            "in a sprint race", "toward the ocean", "across the meadow", "to the rescue", "as if late for work"],
    "wave": ["to greet a friend", "to say hello", "to say goodbye", "to get attention", "at a passing car",
             "to the crowd", "at the camera", "at someone across the street", "at a distant friend",
             "to hail a taxi", "to signal a driver", "to call a dog", "to a neighbour", "at a child",
             "from the platform", "to the fans", "at a departing train",
             "from a balcony", "at the neighbours", "to the passengers", "from across the room",
             "at the students", "at the children"],
    "kick": ["at an imaginary target", "like a martial artist", "at the air", "as if kicking a soccer ball",
             "at a football", "in a karate move", "at a door", "like a dancer", "at a punching bag",
             "during a training session"],
    "punch": ["at an imaginary opponent", "like a boxer", "in a fight", "at a bag", "at a punching bag",
              "during boxing practice", "in a karate class", "at the air", "while training"],
    "jumping_jacks": ["as a warmup", "for exercise", "during a workout", "in the gym", "with energy",
                      "in a fitness class", "before a run", "in the morning", "during a training session"],
    "squat": ["as an exercise", "in the gym", "with good form", "during a workout", "in a fitness class",
              "to stretch the legs", "as part of a routine"],
    "sit_stand": ["as an exercise", "in the office", "at the dinner table", "in a waiting room", "in a classroom"],
    "clap": ["in celebration", "for a performer", "to cheer", "after a show", "to the rhythm of music",
             "with enthusiasm", "for the audience", "after a concert", "for a speaker", "at a wedding",
             "to the beat of a song", "for the team", "at a graduation",
             "for the winners", "in a theater", "for the musicians"],
    "raise_arms": ["in victory", "to celebrate", "as if cheering", "in surprise", "to stretch",
                   "after scoring a goal", "in triumph", "at a concert", "to answer a question"],
    "spin": ["like a dancer", "in celebration", "with joy", "playfully", "like a ballerina", "on the dance floor",
             "like a figure skater"],
    "turn": ["to look behind", "to face the wall", "toward the camera", "to face a friend", "toward a noise",
             "to look at something", "to face the audience",
             "toward the exit", "toward the sound of a bell"],
    "jump": ["in excitement", "for joy", "to reach something above", "with excitement", "to touch the ceiling",
             "like a basketball player", "to grab a branch", "to catch a frisbee", "on a trampoline",
             "after a goal", "to dunk a basketball", "over a hurdle", "at a party", "to the music"],
    "jump_forward": ["over a puddle", "over a small obstacle", "across a gap", "over an imaginary line",
                     "over a crack", "across a stream", "onto a mat", "over a rope"],
    "bow": ["to the audience", "to greet someone", "respectfully", "after a performance", "to thank the crowd",
            "to a teacher", "at the end of a show", "to an opponent", "in a formal greeting"],
    "kneel": ["on the floor", "on the ground", "to pick something up", "in prayer", "to look at something low",
              "in front of a child", "to tie a shoelace", "beside a bed", "in a church",
              "to pet a cat"],
    "hop": ["playfully", "like a child", "across the playground", "on the pavement"],
    "walk_backward": ["away from the wall", "toward the door", "away from something", "away from a dog",
                      "toward the car", "out of the room"],
    "side_step": ["along the wall", "to let someone pass", "like a dancer", "along a ledge", "to avoid an obstacle",
                  "past a table", "like a crab"],
}
ATTITUDE = ["casually", "confidently", "calmly", "happily", "proudly", "naturally", "deliberately", "cheerfully",
            "with confidence", "in a relaxed manner", "in a cheerful mood", "with determination", "lazily",
            "merrily", "gracefully", "firmly", "steadily",
            "without hesitation", "with a smile", "with purpose", "in a good mood", "with ease", "smoothly",
            "effortlessly", "eagerly", "patiently",
            "quietly", "boldly", "thoughtfully", "in a playful way", "with a serious look", "in a focused way",
            "as if bored", "as if thinking", "with a calm expression", "without a word", "in silence"]
SUBJECTS = [  # (subject, possessive, pronoun for a second clause)
    ("a person", "his", "he"), ("a person", "their", "the person"), ("someone", "their", "the person"),
    ("a man", "his", "he"), ("a woman", "her", "she"), ("the person", "the", "the person"),
    ("a human", "their", "the human"), ("the man", "his", "he"), ("a figure", "its", "it"),
    ("a guy", "his", "he"), ("a boy", "his", "he"), ("a girl", "her", "she"), ("a child", "their", "the child"),
    ("a lady", "her", "she"), ("an adult", "their", "the adult"), ("a dancer", "her", "she"),
    ("an athlete", "his", "he"), ("a young man", "his", "he"), ("an old man", "his", "he"),
    ("a young woman", "her", "she"), ("the woman", "her", "she"), ("a character", "their", "the character"),
    ("a stick figure", "its", "it"), ("somebody", "their", "the person"), ("an individual", "their", "this person"),
    ("a kid", "his", "he"), ("a teenager", "her", "she"), ("the subject", "their", "the subject"),
    ("a performer", "his", "he"), ("a gentleman", "his", "he"), ("a tall man", "his", "he"),
    ("a little girl", "her", "she"), ("a player", "his", "he"), ("a young boy", "his", "he"),
    ("an elderly woman", "her", "she"), ("a short woman", "her", "she"), ("a middle aged man", "his", "he"),
    ("a slim man", "his", "he"), ("a muscular man", "his", "he"), ("a cheerful girl", "her", "she"),
    ("a sporty woman", "her", "she"), ("an old lady", "her", "she"), ("a skinny guy", "his", "he"),
    ("a student", "their", "the student"), ("a soldier", "his", "he"), ("a worker", "their", "the worker"),
    ("a runner", "his", "he"), ("a boxer", "his", "he"), ("a ballerina", "her", "she"),
    ("an actor", "his", "he"), ("an actress", "her", "she"), ("a toddler", "their", "the toddler"),
    ("a tired man", "his", "he"), ("a happy woman", "her", "she"), ("an avatar", "its", "it"),
    ("a robot", "its", "it"), ("a mannequin", "its", "it"), ("a stranger", "their", "the stranger"),
    ("a nurse", "her", "she"), ("a doctor", "his", "he"), ("a waiter", "his", "he"), ("a tourist", "their",
    "the tourist"), ("a businessman", "his", "he"), ("a grandmother", "her", "she"), ("a grandfather", "his", "he"),
    ("a police officer", "his", "he"), ("a chef", "her", "she"), ("a farmer", "his", "he"), ("a pilot", "her", "she"),
    ("a mother", "her", "she"), ("a father", "his", "he"), ("a man in a suit", "his", "he"),
    ("a woman in a dress", "her", "she"), ("a person in a hat", "their", "the person"),
    ("a man wearing glasses", "his", "he"), ("a sportsman", "his", "he"), ("a gymnast", "her", "she"),
    ("a clown", "his", "he"), ("a model", "her", "she"), ("a hiker", "their", "the hiker")]


# As in HumanML3D, most captions start with "a person": 45 % from the first two subjects, 30 % from the next 8, 25 %
# from the rest.
SUBJECT_P = [0.225] * 2 + [0.3 / 8] * 8 + [0.25 / (len(SUBJECTS) - 10)] * (len(SUBJECTS) - 10)


def conjugate(phrase, form):
    """Conjugate the ^marked verbs of a template: form "3sg" ("walks") or "ing" ("walking"); ~marked verbs always
    become "-ing" (they follow while / by / without)."""
    phrase = re.sub(r"~(\w+)", lambda m: _ing(m.group(1)), phrase)
    return re.sub(r"\^(\w+)", lambda m: _third(m.group(1)) if form == "3sg" else _ing(m.group(1)), phrase)


def fill_template(template, p, possessive, rng=None):
    """Fill {s} side, {c} curve/rotation, {p} possessive, {r} repetitions ("twice"), {n} number ("three")."""
    reps = REPS.get(p.get("reps", 1), ["repeatedly"])
    return template.format(s=p.get("side", ""), c=p.get("curve", p.get("rot", "")), p=possessive,
                           r=reps[rng.integers(len(reps))] if rng is not None else reps[0],
                           n=NUMS.get(p.get("reps", 1), "a few"))


def verb_phrases(name, p):
    """All templates (with ^verb markers, unfilled) of primitive `name` with parameters `p`."""
    return TEMPLATES[name](p)


def modifiers(name, p):
    """(manner, context) phrase lists true of primitive `name` with parameters `p` (either may be empty)."""
    manner = [m for (nm, key, val), ms in MANNER.items() if nm == name and p.get(key) == val for m in ms]
    key = {"straight": "walk_straight", "clockwise": "walk_circle", "counterclockwise": "walk_circle"}
    ctx = CONTEXT.get(key.get(p.get("curve"), "walk_curve") if name == "walk" else name, [])
    return manner, ctx


def segment_text(name, p):
    """One-segment description naming every style the clip has, e.g. "a person walks forward quickly with long
    strides" (frame_labels/<id>.json "text"). Deterministic."""
    manner = [ms[0] for (nm, key, val), ms in MANNER.items() if nm == name and p.get(key) == val]
    text = " ".join([fill_template(verb_phrases(name, p)[0], p, "their")] + manner)
    return "a person " + conjugate(fill_template(text, p, "their"), "3sg")


# ----------------------------------------------------------------------------------------------------------------
# Sentence structures for chains of 2-3 verb phrases: x = third-person forms ("walks forward"), g = "-ing" forms,
# S = subject, P = pronoun. TRAIN_GLUE serves train/val/test, NOVEL_GLUE only test_novel (held-out phrasings).
# ----------------------------------------------------------------------------------------------------------------

def _chain(rng, x):
    glue = [", then ", " then ", " and then ", ", and then ", " and "]
    return x[0] + "".join(glue[rng.integers(len(glue))] + t for t in x[1:])


def _fin(x, sep=", and finally "):
    return sep + x[-1] if len(x) > 2 else ""


TRAIN_GLUE = [
    lambda r, S, P, x, g: f"{S} {_chain(r, x)}",                                       # walks, then jumps
    lambda r, S, P, x, g: f"{S} {x[0]} before {g[1]}" + "".join(f" and then {y}" for y in g[2:]),
    lambda r, S, P, x, g: f"{S} {x[0]}. after that, {P} " + " and then ".join(x[1:]),
    lambda r, S, P, x, g: f"{S} is " + " and then ".join(g),
    lambda r, S, P, x, g: " then ".join(g),                                             # walking then jumping
    lambda r, S, P, x, g: f"{S} {x[-1]} after " + " and ".join(g[:-1]),              # reversed order
    lambda r, S, P, x, g: f"{S} starts by {g[0]}" + (f" and then {x[1]}" if len(x) == 2 else
                                                      f", then {x[1]}{_fin(x)}"),
    lambda r, S, P, x, g: f"{S} first {x[0]}, then {x[1]}{_fin(x)}",
    lambda r, S, P, x, g: f"{S} {x[0]}" + "".join(f", then {y}" for y in x[1:-1]) + f" and ends by {g[-1]}",
    lambda r, S, P, x, g: f"{S} {x[0]}. next, {P} {x[1]}" + (f". finally, {P} {x[2]}" if len(x) > 2 else ""),
    lambda r, S, P, x, g: f"{S} {x[0]} and afterwards {x[1]}{_fin(x, ' and finally ')}",
]
NOVEL_GLUE = [  # new orders and combinations of the same connectives: no caption can equal a training one
    lambda r, S, P, x, g: f"after {g[0]}, {S} {x[1]}{_fin(x, ' and finally ')}",
    lambda r, S, P, x, g: f"before {g[-1]}, {S} " + " and then ".join(x[:-1]),
    lambda r, S, P, x, g: f"{S} starts by {g[0]}" + "".join(f", then {y}," for y in x[1:-1]) + f" and ends by {g[-1]}",
    lambda r, S, P, x, g: f"first, {S} {x[0]}. then {P} {x[1]}" + (f". finally, {P} {x[2]}" if len(x) > 2 else ""),
    lambda r, S, P, x, g: f"{S} {x[0]} first and then {x[1]}{_fin(x)}",
    lambda r, S, P, x, g: f"{S} is {g[0]} before {g[1]}" + "".join(f" and {y}" for y in g[2:]),
]


def _phrase(rng, name, p, possessive, n_prims):
    """One filled verb phrase, sometimes with a (true) manner modifier and/or a context phrase."""
    vp = fill_template(verb_phrases(name, p)[rng.integers(len(verb_phrases(name, p)))], p, possessive, rng)
    manner, ctx = modifiers(name, p)
    if manner and rng.random() < 0.5 and not STYLE_WORDS & set(re.findall(r"[a-z]+", vp)):
        vp += " " + fill_template(manner[rng.integers(len(manner))], p, possessive)
    if ctx and rng.random() < 0.4 / n_prims:
        vp += " " + ctx[rng.integers(len(ctx))]
    if rng.random() < 0.15 / n_prims:
        vp += " " + ATTITUDE[rng.integers(len(ATTITUDE))]
    return vp


def describe(rng, prims, num_captions, novel=False):
    """`num_captions` distinct captions for a chain of primitives [(name, params), ...]. A chain of 2-3 is glued by
    a structure of TRAIN_GLUE, or of NOVEL_GLUE when `novel` (the held-out test_novel phrasings). rng: numpy
    Generator. Returns list[str]. Raises ValueError for novel=True with a single primitive (nothing to glue)."""
    if novel and len(prims) < 2:
        raise ValueError("synthetic/captions.py: held-out (novel) captions need a chain of at least 2 primitives")
    glues = NOVEL_GLUE if novel else TRAIN_GLUE
    out, tries = [], 0
    while len(out) < num_captions and tries < 50:
        tries += 1
        subject, pos, pron = SUBJECTS[rng.choice(len(SUBJECTS), p=SUBJECT_P)]
        vps = [_phrase(rng, n, p, pos, len(prims)) for n, p in prims]
        x, g = [conjugate(v, "3sg") for v in vps], [conjugate(v, "ing") for v in vps]
        if len(vps) == 1:
            text = [f"{subject} {x[0]}", f"{subject} {x[0]}", f"{subject} is {g[0]}", g[0]][rng.integers(4)]
        else:
            text = glues[rng.integers(len(glues))](rng, subject, pron, x, g)
        text += "." if rng.random() < 0.5 else ""
        if text not in out:
            out.append(text)
    return out
