"""Multi round-trip requests (2026-07-28): asking the client for input without a back channel.

A stateless server cannot send the client a request and wait for the answer.
When a tool (or a prompt, or a resource) calls ``ctx.elicit()``,
``ctx.sample()`` or ``ctx.list_roots()`` while handling a 2026-07-28 request,
it is stopped there, and the request is answered with an
``InputRequiredResult``: the question (``inputRequests``) and an opaque
``requestState``. The client asks its user or its model, then sends the same
request again with the answers (``inputResponses``) and the state. The
function runs again from the start, and this time the same call returns the
answer. Work done before the question is therefore done again on each round:
ask first, act after (as ``withdraw_book`` in the example project does).

Questions are keyed by their order in the call (``elicitation/create#1``,
``sampling/createMessage#2``, ...), so a second round asks the next question.
``requestState`` carries the answers of the earlier rounds, signed with the
site's ``SECRET_KEY`` (:mod:`django.core.signing`), bound to the user, the
method, its target and a digest of its arguments, and valid for
``CLIENT_REQUEST_TIMEOUT`` seconds (someone may be answering); anything else is
refused with ``-32602``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core import signing

from django_mcp.conf import mcp_settings
from django_mcp.protocol.jsonrpc import InvalidParams, JSONRPCError

#: The methods whose results may ask for input.
METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})
SALT = "django_mcp.protocol.mrtr"


class InputRequired(JSONRPCError):
    """Unwinds a tool that asked for input; the handlers answer with :meth:`result`.

    It is a :class:`JSONRPCError` only so that it passes every handler that lets
    protocol errors through; it never reaches the client as an error.
    """

    def __init__(self, requests: dict[str, Any], state: str) -> None:
        super().__init__("Input required")
        self.requests = requests
        self.state = state

    def result(self) -> dict[str, Any]:
        return {
            "resultType": "input_required",
            "inputRequests": self.requests,
            "requestState": self.state,
        }


def _binding(user: Any, method: str, params: dict[str, Any]) -> str:
    """What a state is good for: this user, this method, this target, these arguments."""
    target = params.get("uri") if method == "resources/read" else params.get("name")
    subject = json.dumps(
        [str(getattr(user, "pk", "")), method, target, params.get("arguments")],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(subject.encode()).hexdigest()


@dataclass
class Inputs:
    """The answers one request came with, and the questions its function asks."""

    binding: str
    answers: dict[str, Any] = field(default_factory=dict)
    asked: int = 0

    @classmethod
    def for_request(cls, user: Any, method: str, params: dict[str, Any]) -> Inputs:
        inputs = cls(_binding(user, method, params))
        state = params.get("requestState")
        if state is not None:
            try:
                data = signing.loads(
                    str(state),
                    salt=SALT,
                    max_age=timedelta(seconds=mcp_settings.CLIENT_REQUEST_TIMEOUT),
                )
            except signing.BadSignature:
                data = None
            if not isinstance(data, dict) or data.get("binding") != inputs.binding:
                raise InvalidParams(
                    "Invalid params: requestState is invalid, expired or not for this request; "
                    "send the request again without it"
                )
            inputs.answers.update(data.get("answers") or {})
        responses = params.get("inputResponses")
        if responses is not None:
            if not isinstance(responses, dict):
                raise InvalidParams('Invalid params: "inputResponses" must be an object')
            inputs.answers.update(
                {str(key): value for key, value in responses.items() if isinstance(value, dict)}
            )
        return inputs

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The client's answer to this question, or :class:`InputRequired` to ask it."""
        self.asked += 1
        key = f"{method}#{self.asked}"
        answer = self.answers.get(key)
        if isinstance(answer, dict):
            return answer
        state = signing.dumps(
            {"binding": self.binding, "answers": self.answers}, salt=SALT, compress=True
        )
        raise InputRequired({key: {"method": method, "params": params}}, state)
