"""The dialogue's numbers: confidence thresholds, retries and time limits, in one place."""

from __future__ import annotations

import datetime as dt

# --- how sure the classifier must be ---------------------------------------------------------

# At or above: take the item as understood. Below: ask "您说的是「…」吗?".
CONFIRM_BELOW = 0.6
# Channels on which even a confident reading is confirmed before anything is opened: a speech
# transcript carries recognition errors, so the caller confirms the understood matter by key or
# by voice (the national hotline practice).
ALWAYS_CONFIRM = frozenset({"voice"})
# Below: offer the top candidates as numbered choices instead of confirming one.
CHOICES_BELOW = 0.4
# Items ranked lower than this are never offered.
CANDIDATE_MIN = 0.05
# A meta intent (greet, thanks, …) counts from this confidence.
META_MIN = 0.5
# An item ranked this high is read as a request even when a meta intent outranks it
# ("你好，我家门口路灯坏了" is a report, not a greeting), in a message longer than a few words.
ITEM_OVER_META = 0.3
SHORT_MESSAGE = 6
# While the bot asks where, a message is a different matter (the one reported is opened without
# a place, then the new one is taken up) only when the classifier is this sure and the message
# this long: a place in words ("学校门口", "by the bridge") is short and may look like a matter.
NEW_MATTER_MIN = 0.8
NEW_MATTER_MIN_CHARS = 10
# The NLU naming one of the offered items this confidently picks it.
PICK_MIN = 0.3
# The NLU's opt_out / request_human intents act only when this sure, on short messages.
COMMAND_MIN = 0.85
COMMAND_MAX_CHARS = 12
# A resident's explicit choice or confirmation of an item.
RESIDENT_CONFIRMED = 1.0
# The confidence of an emergency classified by its danger word alone (煤气泄漏 → fire hazard).
URGENT_WORD_CONFIDENCE = 0.8

# --- how many questions --------------------------------------------------------------------

MAX_CHOICES = 3
# Failed answers to one question before the dialogue moves on (help menu, a person, or the
# case opened with what is known): never a dead end.
MAX_TRIES = 2
# Descriptions of a matter the classifier still cannot place before a person takes over.
MAX_DESCRIPTIONS = 2
MAX_LISTED_CASES = 3

# --- how long things last ------------------------------------------------------------------

# A question left unanswered this long is dropped.
PENDING_TTL = dt.timedelta(hours=24)
# Offers (help menu, FAQ follow-up, correction after a receipt, survey retry) last this long.
SOFT_TTL = dt.timedelta(hours=2)
# After a receipt, 0 / 不对 still corrects the case (and a place on its own still completes
# it) this long, even after a word in between (是, 谢谢), until a new request begins.
CORRECTION_WINDOW = dt.timedelta(minutes=10)
# More danger words this soon after an emergency was opened are news about it, not a new one.
URGENT_FOLLOW_UP = dt.timedelta(hours=2)
# An opted-out resident is told how to opt back in at most this often.
OPTED_OUT_HINT_EVERY = dt.timedelta(hours=24)

# --- sizes ---------------------------------------------------------------------------------

MAX_DESCRIPTION_CHARS = 4000
# The last visible event is quoted in a status reply up to this many characters.
LAST_EVENT_MAX_CHARS = {"zh": 40, "en": 100}
MAX_NAME_CHARS = 40
