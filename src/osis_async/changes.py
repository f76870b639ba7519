"""What a change tells the streams, the one path it takes from the code that writes, and how it
travels between processes.

A ``Change`` names whose task lists may have changed: persons by id, tasks by uuid (when the
writer does not know their owner), or everyone; and sessions that ended (logouts). The code that
writes (``update_task``, the trackers, the sweeps, the model's signals) calls ``announce``; the
events package, which imports the models, subscribes to ``changed`` when the app is ready, so
nothing that writes imports it. Between processes a change travels as text payloads, one per
item, which is what PostgreSQL's trigger sends (a person id) and what the Redis channel
carries:

- ``"42"``: person 42's tasks changed;
- ``"task:<uuid>"``: that task's owner's tasks changed;
- ``"*"``: anyone's may have changed (a bulk update, a deletion);
- ``"logout:<session key>"``: that session ended.

This module is the only place that writes or reads that format.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.dispatch import Signal

#: The PostgreSQL channel the table's trigger notifies, and the Redis pub/sub channel.
CHANNEL = "osis_async_tasks"

_TASK = "task:"
_LOGOUT = "logout:"
_EVERYONE = "*"


@dataclass(frozen=True)
class Change:
    persons: frozenset[str] = frozenset()
    tasks: frozenset[str] = frozenset()
    everyone: bool = False
    sessions_ended: frozenset[str] = frozenset()

    @classmethod
    def of_person(cls, person_id: object) -> Change:
        return cls(persons=frozenset({str(person_id)}))

    @classmethod
    def of_task(cls, uuid: object) -> Change:
        return cls(tasks=frozenset({str(uuid)}))

    @classmethod
    def of_everyone(cls) -> Change:
        return cls(everyone=True)

    @classmethod
    def of_logout(cls, session_key: str) -> Change:
        return cls(sessions_ended=frozenset({session_key}))

    @classmethod
    def from_payloads(cls, payloads: Iterable[str]) -> Change:
        persons: set[str] = set()
        tasks: set[str] = set()
        sessions: set[str] = set()
        everyone = False
        for payload in payloads:
            if payload == _EVERYONE:
                everyone = True
            elif payload.startswith(_TASK):
                tasks.add(payload.removeprefix(_TASK))
            elif payload.startswith(_LOGOUT):
                sessions.add(payload.removeprefix(_LOGOUT))
            elif payload:
                persons.add(payload)
        return cls(frozenset(persons), frozenset(tasks), everyone, frozenset(sessions))

    def payloads(self) -> Iterator[str]:
        yield from self.persons
        yield from (_TASK + uuid for uuid in self.tasks)
        if self.everyone:
            yield _EVERYONE
        yield from (_LOGOUT + key for key in self.sessions_ended)

    def __or__(self, other: Change) -> Change:
        return Change(
            self.persons | other.persons,
            self.tasks | other.tasks,
            self.everyone or other.everyone,
            self.sessions_ended | other.sessions_ended,
        )

    def __bool__(self) -> bool:
        return bool(self.persons or self.tasks or self.everyone or self.sessions_ended)

    @property
    def lists_changed(self) -> bool:
        """Whether some person's task list may have changed (not only sessions ending)."""
        return bool(self.persons or self.tasks or self.everyone)


#: Sent with ``change=`` by ``announce``; the events package receives it.
changed = Signal()


def announce(change: Change) -> None:
    """Tell whoever listens (the streams of this and other processes) of ``change``."""
    changed.send(sender=Change, change=change)
