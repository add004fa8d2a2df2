"""The field cipher: seals a command's personal text under its author's data key, and opens sealed text for readers.

AES-256-GCM (``cryptography``). The 96-bit nonce is *synthetic*: the first 12 bytes of an HMAC-SHA256, under a key
derived from the data key, of the command id, the field and the plaintext. So the very same command sealed twice
gives the very same string (a re-sent command keeps its command id's fingerprint: the client's idempotency holds),
and two different plaintexts, fields or commands never share a nonce (a nonce repeats only with its plaintext, and
then the ciphertext is the same one). The associated data binds the ciphertext to its key id.

Readers open every sealed token in any JSON-like value (strings, lists, mappings) with one key-store lookup; a token
whose key is gone reads :data:`domain.privacy.sealed.ERASED`, one that does not authenticate reads ``[unreadable]``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from domain.instrument import Instrument, free_text_ids, validate_answers
from domain.privacy.inventory import SEALED_PROFILE_FIELDS, personal_command_fields
from domain.privacy.keys import KeyStore
from domain.privacy.sealed import ERASED, NONCE_BYTES, SEALED_PREFIX, SEALED_RE, is_sealed, key_ids_in

__all__ = ["UNREADABLE", "FieldCipher", "open_token", "seal_with"]

UNREADABLE = "[unreadable]"
M = TypeVar("M", bound=BaseModel)
_NONCE_LABEL = b"mentorflow/enc:v1/nonce"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(key_id: str) -> bytes:
    return f"{SEALED_PREFIX}{key_id}".encode("ascii")


def seal_with(key_id: str, key: bytes, plaintext: str, context: str) -> str:
    """``plaintext`` sealed under ``key`` (see the module doc for the synthetic nonce)."""
    data = plaintext.encode("utf-8")
    nonce_key = hmac.new(key, _NONCE_LABEL, hashlib.sha256).digest()
    nonce = hmac.new(nonce_key, context.encode("utf-8") + b"\x00" + data, hashlib.sha256).digest()[:NONCE_BYTES]
    return f"{SEALED_PREFIX}{key_id}:{_b64(nonce + AESGCM(key).encrypt(nonce, data, _aad(key_id)))}"


def open_token(token: str, keys: dict[str, bytes]) -> str:
    """One sealed token opened with ``keys`` (key id → key): its text, ``[erased]`` or ``[unreadable]``."""
    match = SEALED_RE.fullmatch(token)
    if match is None:
        return token
    key = keys.get(match.group(1))
    if key is None:
        return ERASED
    try:
        raw = _unb64(match.group(2))
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(match.group(1)))
        return plain.decode("utf-8")
    except (InvalidTag, ValueError):
        return UNREADABLE


def _strings(value: Any) -> Iterable[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(k for k in item if isinstance(k, str))
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _replace(value: Any, keys: dict[str, bytes], *, only_these: bool = False) -> Any:
    """``value`` with its sealed tokens opened with ``keys``; ``only_these``: a token under another key stays sealed
    (else it reads ``[erased]``)."""
    if isinstance(value, str):
        if SEALED_PREFIX not in value:
            return value

        def opened(m: re.Match[str]) -> str:
            return m.group(0) if only_these and m.group(1) not in keys else open_token(m.group(0), keys)

        return SEALED_RE.sub(opened, value)
    if isinstance(value, dict):
        return {_replace(k, keys, only_these=only_these): _replace(v, keys, only_these=only_these)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        return [_replace(v, keys, only_these=only_these) for v in value]
    return value


class FieldCipher:
    """Seals commands for the workflow client and opens what readers show, over one :class:`KeyStore`."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    # --- sealing (the client, before a command leaves) -------------------------------------------------------
    def seal_text(self, person_id: str, plaintext: str, context: str) -> str:
        """``plaintext`` sealed under the person's current key; empty or already sealed text is returned as is."""
        if not plaintext or is_sealed(plaintext):
            return plaintext
        key_id, key = self.store.key_for(person_id)
        return seal_with(key_id, key, plaintext, context)

    def seal_command(self, command: M) -> M:
        """The command with its personal text fields (domain/privacy/inventory.py) sealed under its actor's key.
        The plaintext was validated when the command was built; the sealed copy is not re-validated here (the
        workflow validates it with the sealed-text limits)."""
        names = personal_command_fields(str(getattr(command, "type", "")))
        actor = getattr(command, "actor", None)
        if not names or actor is None:
            return command
        command_id = str(getattr(command, "command_id", ""))
        update: dict[str, Any] = {}
        for name in names:
            value = getattr(command, name, None)
            context = f"{command_id}/{name}"
            if isinstance(value, str):
                update[name] = self.seal_text(actor.id, value, context)
            elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                # (a survey's answers: seal_answers; an enrollment's participants: seal_profiles)
                update[name] = type(value)(self.seal_text(actor.id, v, context) for v in value)
        return command.model_copy(update=update)

    def seal_answers(self, command: M, instrument: Instrument | None) -> M:
        """A survey response (``answers``) with its free-text answers (the ``instrument``'s :func:`free_text_ids`)
        sealed under its actor's key. The plaintext answers are checked against the instrument first (raises
        ``InvalidCommand`` naming the field, as ``decide`` would: a sealed answer's own length no longer tells).
        ``instrument`` None (the request is not open: ``decide`` refuses the response): sent as it is."""
        answers = getattr(command, "answers", None)
        actor = getattr(command, "actor", None)
        if instrument is None or not isinstance(answers, dict) or actor is None:
            return command
        validate_answers(instrument, answers)
        private = free_text_ids(instrument)
        command_id = str(getattr(command, "command_id", ""))
        sealed = {
            key: self.seal_text(actor.id, value, f"{command_id}/answers.{key}")
            if key in private and isinstance(value, str)
            else value
            for key, value in answers.items()
        }
        return command.model_copy(update={"answers": sealed})

    def seal_profiles(self, command: M) -> M:
        """An enrollment (``participants``) with each participant's profile fields :data:`SEALED_PROFILE_FIELDS`
        sealed under *that participant's* key (a profile is about its person, whoever enrolls them: erasing the person
        shreds it). Only the line manager, a pseudonymous id, stays plain (domain/privacy/inventory.py
        ``PROFILE_FIELDS``)."""
        participants = getattr(command, "participants", None)
        if not participants:
            return command
        command_id = str(getattr(command, "command_id", ""))
        sealed = tuple(
            p.model_copy(
                update={"profile": self._sealed_profile(p.person_id, p.profile, f"{command_id}/{p.person_id}")}
            )
            for p in participants
        )
        return command.model_copy(update={"participants": sealed})

    def seal_withdrawal(self, command: M) -> M:
        """A withdrawal (``WithdrawParticipant``) with its reason sealed under the *withdrawn person's* key: it is
        about them, whoever typed it (erasing them shreds it)."""
        person_id, reason = getattr(command, "person_id", None), getattr(command, "reason", None)
        if not isinstance(person_id, str) or not isinstance(reason, str):
            return command
        context = f"{getattr(command, 'command_id', '')}/reason"
        return command.model_copy(update={"reason": self.seal_text(person_id, reason, context)})

    def _sealed_profile(self, person_id: str, profile: M, context: str) -> M:
        """Each of :data:`SEALED_PROFILE_FIELDS`: a text, each tag of a list, a number as its ``repr`` (the
        profile's rule reads the opened text back as the number)."""
        update: dict[str, Any] = {}
        for name in SEALED_PROFILE_FIELDS:
            value = getattr(profile, name, None)
            if isinstance(value, float | int) and not isinstance(value, bool):
                value = repr(float(value))
            if isinstance(value, str):
                update[name] = self.seal_text(person_id, value, f"{context}/{name}")
            elif isinstance(value, tuple):
                update[name] = tuple(self.seal_text(person_id, v, f"{context}/{name}") for v in value)
        return profile.model_copy(update=update)

    def reuse_sealed(self, command: M, field: str, held: Iterable[str]) -> M:
        """The command with each plaintext item of its list ``field`` that equals the opened text of a sealed string
        in ``held`` replaced by that sealed string, so equal texts stay equal strings (the domain unions the goals
        both participants sign by equality)."""
        items = getattr(command, field, None)
        sealed = [h for h in held if is_sealed(h)]
        if not items or not sealed:
            return command
        keys = self.store.keys(self.key_ids(sealed))
        by_plain = {open_token(h, keys): h for h in sealed}
        by_plain.pop(ERASED, None)
        by_plain.pop(UNREADABLE, None)
        return command.model_copy(update={field: type(items)(by_plain.get(i, i) for i in items)})

    # --- opening (readers) -----------------------------------------------------------------------------------
    def key_ids(self, value: Any) -> set[str]:
        """The key ids of every sealed token inside ``value`` (JSON-like)."""
        found: set[str] = set()
        for text in _strings(value):
            found |= key_ids_in(text)
        return found

    def open_json(self, value: Any) -> Any:
        """``value`` (JSON-like) with every sealed token opened (one key-store lookup)."""
        ids = self.key_ids(value)
        if not ids:
            return value
        return _replace(value, self.store.keys(ids))

    def open_own(self, value: Any, person_id: str) -> Any:
        """``value`` (JSON-like) with only the tokens sealed under ``person_id``'s own keys opened: a participant
        reads their own text; anyone else's stays sealed (one key-store lookup; none when nothing is theirs)."""
        ids = self.key_ids(value)
        if not ids:
            return value
        own = ids & set(self.store.key_ids_of(person_id))
        if not own:
            return value
        return _replace(value, self.store.keys(own), only_these=True)

    def open_text(self, text: str) -> str:
        return str(self.open_json(text))

    def open_model(self, model: M) -> M:
        """A display copy of ``model`` with its sealed text opened (the model itself is not changed)."""
        data = model.model_dump(mode="json")
        if not self.key_ids(data):
            return model
        return type(model).model_validate(self.open_json(data))
