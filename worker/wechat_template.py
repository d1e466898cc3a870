"""WeChat template messages: a case's news for a follower outside the 48-hour window.

WeChat takes customer-service messages (free text, `worker.senders.WeChatSender`) only within 48
hours of the follower's last message; a case usually takes longer than that to be resolved. A
verified service account (服务号) may still reach a follower with a *template message*: a template
the county picked in the account's admin (模板消息, e.g. "办理进度通知"), whose fields Zhitong
fills. Each template names its own fields (``character_string1``, ``thing2`` … or the older
``keyword1`` …), so the county maps them to what Zhitong knows:

    ZHITONG_WECHAT_TEMPLATE_ID=Xy12…
    ZHITONG_WECHAT_TEMPLATE_FIELDS=character_string1=case_number,thing2=item,phrase3=status,time4=time

Values are cut to what WeChat shows: since May 2023 each line of a template message shows at most
20 characters (more is cut with an ellipsis), a ``phrase`` field takes 5 Chinese characters, a
``character_string`` 32 letters and digits. A cut value ends with "…", so the follower sees that
there is more; the whole text is in the case (the follower's next message opens the window
again and they can ask).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Characters a field of this type shows (by the field's name without its digits).
_LIMITS = {"phrase": 5, "character_string": 32, "number": 32, "letter": 32, "name": 10}
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class TemplateNotice:
    """One template message: the template and its filled fields, in the template's order."""

    template_id: str
    fields: tuple[tuple[str, str], ...]

    def data(self) -> dict[str, dict[str, str]]:
        """The ``data`` object of WeChat's template/send request."""
        return {name: {"value": value} for name, value in self.fields}


def fill(
    template_id: str, fields: tuple[tuple[str, str], ...], values: Mapping[str, str]
) -> TemplateNotice:
    """The template message for `values` (by name, see `cases.settings.TEMPLATE_VALUES`), each
    cut to what its field shows."""
    return TemplateNotice(
        template_id,
        tuple((name, fit(name, values.get(value, ""))) for name, value in fields),
    )


def fit(field: str, value: str) -> str:
    """`value` on one line, cut to the characters a field of this kind shows."""
    line = " ".join(value.split())
    limit = _LIMITS.get(field.rstrip("0123456789"), DEFAULT_LIMIT)
    if field.startswith(("time", "date")):  # dates are written short; never cut mid-date
        return line
    return line if len(line) <= limit else line[: limit - 1] + "…"
