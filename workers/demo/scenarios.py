"""Simulated participants: one asyncio script per relationship, acting on the ``demo`` policy's clock
(1 day = 0.25 s: a week is 1.75 s, the 12-month term 90 s; no meeting for 11.25 s turns a relationship yellow).

Each script plays one story of a real program, through the Python client: most pairs meet regularly until their term
ends and record what the relationship becomes; others decline, let the match expire, ask for a rematch during the
trial (a successor relationship links back), never sign, go quiet and turn at risk (some recover, some are separated
by inactivity), separate by mutual agreement, contest a separation that the program manager resolves (end or
reconcile), renew their term, pause and resume, or are terminated by the manager. Together they produce every
redefinition outcome: collegial, friendship, ended by disagreement and ended by silence.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from domain import (
    AcceptMatch,
    Actor,
    CommandBase,
    CompleteGoal,
    ConsentSeparation,
    DeclineMatch,
    DomainError,
    LifecyclePolicy,
    LogMeeting,
    Pause,
    ProposeRelationship,
    ProposeSeparation,
    Reassign,
    RecordRedefinition,
    RelationshipState,
    RequestRematch,
    RequestRenewal,
    ResolveSeparation,
    Resume,
    Role,
    SetGoal,
    SignAgreement,
    Stage,
    SubmitCheckIn,
    Substate,
    Terminate,
)
from domain.commands import SubmitSurvey
from domain.scripting import command as scripted_command
from domain.scripting import proposal
from workers.demo.people import GOALS, MENTEES, MENTORS, Pick
from workers.demo.stats import Stats, rejection
from workers.demo.surveys import answer_open_surveys

__all__ = ["FULL_PLAN", "SCENARIOS", "Client", "Pair", "Sim", "plan"]

DAY = 0.25  # seconds per demo day
CADENCE = 5.0  # a meeting about every three weeks (no meeting for 45 days, 11.25 s, turns a pair yellow)
ONBOARDING = 8  # relationships being proposed/accepted/signed at once (the match expires 11 s after the proposal)
TRIAL_MEETINGS = (1.5, 4.0)  # seconds after the kickoff: two meetings inside the 45-day trial window
MIN_TERM = 20.0  # long enough to reach cultivation (the trial window is 11.25 s)


class Client(Protocol):
    async def propose(self, command: ProposeRelationship) -> Any: ...

    async def send(self, relationship_id: str, command: Any) -> Any: ...

    async def state(self, relationship_id: str) -> RelationshipState: ...


PATIENCE = 90.0
"""How long the demo's client (``busy_timeout``) keeps re-sending one command (or re-asking a query) through a
transient fault — a worker restarting, a loaded machine — before it gives up and is reported. Re-sending is safe: a
command keeps its command id, so it is applied once whatever happened to the earlier attempt."""


@dataclass
class Pair:
    relationship_id: str
    mentor: str
    mentee: str
    scenario: str
    term: float  # agreement term, seconds
    predecessor_id: str | None = None
    proposed: bool = False  # by the program's round (workers/demo/enrollment.py): the story skips the proposal
    via: str | None = None  # "admin" or "self": the story's proposal is the program's (Sim.matchmaker)
    pick: Pick | None = None  # enrolled people a manager paired (Sim.picker): the proposal records score and why

    @property
    def mentor_actor(self) -> Actor:
        return Actor(id=self.mentor, role=Role.MENTOR)

    @property
    def mentee_actor(self) -> Actor:
        return Actor(id=self.mentee, role=Role.MENTEE)


class Sim:
    """What the scripts share: the client, the program, the latest known state of each relationship."""

    def __init__(
        self,
        client: Client,
        program: str,
        policy: LifecyclePolicy,
        *,
        term: float = 90.0,
        seed: int | None = None,
        manager: str = "demo-manager",
    ) -> None:
        self.client = client
        self.program = program
        self.policy = policy
        self.term = term
        self.rng = random.Random(seed)
        self.manager = Actor(id=manager, role=Role.MANAGER)
        self.states: dict[str, RelationshipState] = {}
        self.pairs: dict[str, Pair] = {}
        self.stats = Stats()
        self._names = 0
        self.ready: list[Pair] = []  # pairs the program's round proposed, for the first stories
        self.matchmaker: Callable[[Pair], Awaitable[Any]] | None = None  # proposes an admin or a self match
        self.picker: Callable[[str | None, str | None], Pick | None] | None = None  # (mentee, leaving) -> a pair
        # Backpressure: on a loaded machine the acceptances of a burst of proposals would arrive after the match
        # expired; a few onboardings at a time keep the answers within the policy's 11 s.
        self.onboarding = asyncio.Semaphore(ONBOARDING)

    # --- people and ids ---------------------------------------------------------------------------------------
    def person(self, pool: list[str]) -> str:
        self._names += 1
        return f"{pool[self._names % len(pool)]}-{self._names:03d}"

    def adopt(self, relationship_id: str, mentor: str, mentee: str, via: str | None = None) -> Pair:
        """A pair of the program: proposed by its round, or (``via``) to be proposed by ``matchmaker`` as an admin
        or a self match when its story starts; the next story (without a predecessor) drives it."""
        pair = Pair(relationship_id, mentor, mentee, scenario="", term=self.term, proposed=via is None, via=via)
        self.ready.append(pair)
        return pair

    def new_pair(self, scenario: str, term_fraction: float = 1.0, predecessor: Pair | None = None) -> Pair:
        term = round(max(MIN_TERM, self.term * term_fraction), 2)
        if predecessor is None and self.ready:
            pair = self.ready.pop(0)
            pair.scenario, pair.term = scenario, term
            self.pairs[pair.relationship_id] = pair
            return pair
        rid = f"{self.program}-r{len(self.pairs) + 1:03d}"
        pick = None
        if self.picker is not None:  # the program's enrolled people, while any fits
            pick = self.picker(predecessor.mentee, predecessor.mentor) if predecessor else self.picker(None, None)
        pair = Pair(
            relationship_id=rid,
            mentor=pick.mentor if pick else self.person(MENTORS),
            mentee=predecessor.mentee if predecessor else pick.mentee if pick else self.person(MENTEES),
            scenario=scenario,
            term=term,
            predecessor_id=predecessor.relationship_id if predecessor else None,
            pick=pick,
        )
        self.pairs[rid] = pair
        return pair

    # --- acting -----------------------------------------------------------------------------------------------
    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds * self.rng.uniform(0.85, 1.15)))

    def _track(self, result: Any) -> RelationshipState | None:
        state = getattr(result, "state", None)
        if isinstance(state, RelationshipState):
            known = self.states.get(state.relationship_id)
            if known is None or state.seq >= known.seq:
                self.states[state.relationship_id] = state
            return state
        return None

    async def propose(self, pair: Pair) -> bool:
        if pair.proposed:  # the round proposed it: the story goes on from the proposal
            await self.refresh(pair)
            return True
        if pair.via is not None and self.matchmaker is not None:  # through the program: suggestion, then proposal
            self.stats.commands += 1
            await self.matchmaker(pair)
            await self.refresh(pair)
            return True
        command = proposal(
            pair.relationship_id,
            program_id=self.program,
            by=self.manager,
            mentor_id=pair.mentor,
            mentee_id=pair.mentee,
            policy=self.policy,
            command_id=str(uuid.uuid4()),
            match_method="rematch" if pair.predecessor_id else "admin",  # by hand: the manager's choice, no round
            match_score=Decimal(str(pair.pick.score if pair.pick else round(self.rng.uniform(55, 98), 1))),
            predecessor_id=pair.predecessor_id,
        )
        if pair.pick is not None:
            why = {k: Decimal(str(v)) for k, v in pair.pick.explanation.items()}
            command = command.model_copy(
                update={"match_explanation": why, "matching_version": pair.pick.matching_version}
            )
        return await self._run(pair, lambda: self.client.propose(command), command)

    async def send(self, pair: Pair, cls: type[CommandBase], *, actor: Actor, **fields: Any) -> bool:
        """Send one command; a rejection (a race with a timer, say) is counted, never fatal."""
        command = scripted_command(cls, actor, str(uuid.uuid4()), **fields)
        return await self._run(pair, lambda: self.client.send(pair.relationship_id, command), command)

    async def _run(self, pair: Pair, call: Callable[[], Awaitable[Any]], command: CommandBase) -> bool:
        self.stats.commands += 1
        started = time.monotonic()
        try:
            self._track(await call())
            self.stats.latencies.append(time.monotonic() - started)
            return True
        except DomainError as exc:
            self.stats.latencies.append(time.monotonic() - started)
            self.stats.rejected += 1
            self.stats.rejections[rejection(command, exc)] += 1
            await self.refresh(pair)
            return False

    async def refresh(self, pair: Pair) -> RelationshipState:
        state: RelationshipState = await self.client.state(pair.relationship_id)
        known = self.states.get(pair.relationship_id)
        if known is None or state.seq >= known.seq:
            self.states[pair.relationship_id] = state
        return self.states[pair.relationship_id]

    def state(self, pair: Pair) -> RelationshipState:
        return self.states.get(pair.relationship_id) or RelationshipState.new(pair.relationship_id)

    async def until(
        self, pair: Pair, pred: Callable[[RelationshipState], bool], within: float, every: float = 1.5
    ) -> RelationshipState:
        """Poll the workflow until ``pred(state)`` (timer-driven changes happen without us), for ``within`` s."""
        deadline = time.monotonic() + within
        state = await self.refresh(pair)
        while not pred(state) and time.monotonic() < deadline:
            await asyncio.sleep(every)
            state = await self.refresh(pair)
        return state

    def now(self) -> datetime:
        return datetime.now(UTC) - timedelta(milliseconds=50)

    # --- the steps every story is made of --------------------------------------------------------------------
    async def onboard(self, pair: Pair, *, sign: bool = True) -> bool:
        """Propose, both accept, both sign: True once the trial runs."""
        async with self.onboarding:
            return await self._onboard(pair, sign=sign)

    async def _onboard(self, pair: Pair, *, sign: bool) -> bool:
        if not await self.propose(pair):
            return False
        # The match expires after 44 demo days (11 s): both answer at once, each from their own device (a mentee who
        # asked the mentor, a self match, accepted by asking).
        answering = (pair.mentor_actor,) if pair.via == "self" else (pair.mentor_actor, pair.mentee_actor)
        await asyncio.gather(*(self.send(pair, AcceptMatch, actor=actor) for actor in answering))
        if not sign:
            return False
        goals = self.rng.sample(GOALS, self.rng.randint(1, 3))
        term = f"PT{pair.term}S"
        await self.pause(0.3)
        await asyncio.gather(
            *(
                self.send(pair, SignAgreement, actor=actor, goals=goals, cadence="PT5.25S", term=term)
                for actor in (pair.mentee_actor, pair.mentor_actor)
            )
        )
        return self.state(pair).substate is Substate.TRIAL

    async def meet(self, pair: Pair, who: Actor | None = None) -> bool:
        actor = who or self.rng.choice((pair.mentor_actor, pair.mentee_actor))
        minutes = self.rng.choice((30, 45, 60, 60, 90))
        return await self.send(pair, LogMeeting, actor=actor, held_at=self.now(), duration_minutes=minutes)

    async def through_trial(self, pair: Pair) -> bool:
        """Two meetings inside the trial window; the timer then moves the pair to cultivation."""
        started = time.monotonic()
        for at in TRIAL_MEETINGS:
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            await self.meet(pair)
        await self.send(pair, SetGoal, actor=pair.mentee_actor, text="find a stretch project")
        state = await self.until(pair, lambda s: s.stage is not Stage.INITIATION, within=20)
        if state.stage is not Stage.CULTIVATION:
            return False
        await self.answer_surveys(pair)  # the end-of-trial survey, asked as the trial ends
        return True

    async def cultivate(
        self, pair: Pair, *, until: float | None = None, marginal: bool = False, goals: bool = True
    ) -> RelationshipState:
        """Meet every ~2 weeks (with check-ins and goals) while in cultivation, until ``until`` (monotonic) if
        given, else until a timer (term end) moves the pair on."""
        n = 0
        while True:
            state = self.state(pair)
            if state.stage is not Stage.CULTIVATION or (until is not None and time.monotonic() >= until):
                return state
            await self.pause(CADENCE)
            if until is not None and time.monotonic() >= until:
                return await self.refresh(pair)
            if state.substate is Substate.PAUSED:
                await self.refresh(pair)
                continue
            n += 1
            await self.meet(pair)  # its result carries the state (a timer may have moved the pair meanwhile)
            if n % 4 == 0:
                score = 3 if marginal else self.rng.choice((4, 5, 5))
                await self.send(pair, SubmitCheckIn, actor=pair.mentee_actor, satisfaction=score)
            await self.answer_surveys(pair, marginal=marginal)
            if goals and n == 2:
                open_goals = [g for g, goal in self.state(pair).goals.items() if not goal.completed]
                if open_goals:
                    await self.send(pair, CompleteGoal, actor=pair.mentee_actor, goal_id=open_goals[0])

    async def redefine(self, pair: Pair, mentor: str | None, mentee: str | None) -> RelationshipState:
        """Wait for redefinition (the wind-down timer), then record each outcome (None: that one stays silent).
        A separation that ended up contested on the way (a consent that came too late) is what the program manager
        watches for: they resolve it ``end``."""
        state = await self.until(
            pair, lambda s: s.stage in (Stage.REDEFINITION, Stage.CLOSED) or s.substate is Substate.CONTESTED, within=60
        )
        if state.substate is Substate.CONTESTED:
            await self.pause(2.0)
            note = "the consent came too late; ending as both intended"
            await self.send(pair, ResolveSeparation, actor=self.manager, resolution="end", note=note)
            state = await self.until(pair, lambda s: s.stage in (Stage.REDEFINITION, Stage.CLOSED), within=40)
        if state.stage is Stage.REDEFINITION:

            async def conclude(actor: Actor, outcome: str | None) -> None:
                # each on their own: the final reflection and the program evaluation, then what it became (the
                # other's surveys do not hold it up: the follow-up window closes it `ended` when it runs out)
                await self.answer_surveys(pair, people=(actor,))
                if outcome is not None:
                    await self.pause(0.6)
                    await self.send(pair, RecordRedefinition, actor=actor, outcome=outcome)

            await asyncio.gather(conclude(pair.mentor_actor, mentor), conclude(pair.mentee_actor, mentee))
        return await self.until(pair, lambda s: s.is_closed, within=40)

    async def answer_surveys(
        self, pair: Pair, *, marginal: bool = False, people: tuple[Actor, ...] | None = None
    ) -> None:
        async def send(actor: Actor, request_id: str, answers: dict[str, Any]) -> bool:
            return await self.send(pair, SubmitSurvey, actor=actor, request_id=request_id, answers=answers)

        who = people or (pair.mentee_actor, pair.mentor_actor)
        margin = timedelta(seconds=self.stats.recent())
        await answer_open_surveys(self.state(pair), who, send, self.rng, marginal=marginal, margin=margin)

    def deadline(self, pair: Pair, fraction: float, minimum: float) -> float:
        """A monotonic instant ``max(minimum, fraction * term)`` seconds after the kickoff (≈ now + that)."""
        state = self.state(pair)
        kickoff = state.trial_started_at or datetime.now(UTC)
        elapsed = (datetime.now(UTC) - kickoff).total_seconds()
        return time.monotonic() + max(minimum, fraction * pair.term) - elapsed


# --- the stories --------------------------------------------------------------------------------------------------


async def steady(sim: Sim, pair: Pair, mentor: str | None, mentee: str | None, marginal: bool = False) -> None:
    """Meet regularly until the term ends (a timer: winding down), then record what the relationship becomes."""
    if await sim.onboard(pair) and await sim.through_trial(pair):
        await sim.cultivate(pair, marginal=marginal)
        await sim.redefine(pair, mentor, mentee)


async def decline(sim: Sim, pair: Pair) -> None:
    async with sim.onboarding:
        await sim.propose(pair)
    await sim.pause(0.5)
    who = sim.rng.choice((pair.mentor_actor, pair.mentee_actor))
    reason = sim.rng.choice(("schedule conflict this quarter", "looking for a different expertise", "not a good fit"))
    await sim.send(pair, DeclineMatch, actor=who, reason=reason)


async def expire(sim: Sim, pair: Pair) -> None:
    """Nobody answers: a reminder, then the match expires (a timer)."""
    async with sim.onboarding:
        await sim.propose(pair)
    await sim.until(pair, lambda s: s.is_closed, within=25, every=1.0)


async def did_not_start(sim: Sim, pair: Pair) -> None:
    """Both accept but never sign: a kickoff nudge, an escalation to the manager, then ``did_not_start``."""
    await sim.onboard(pair, sign=False)
    await sim.until(pair, lambda s: s.is_closed, within=40, every=1.0)


async def rematch(sim: Sim, pair: Pair) -> None:
    """The trial does not work out: the mentee asks for a rematch; a successor relationship links back."""
    if not await sim.onboard(pair):
        return
    await sim.pause(1.5)
    await sim.meet(pair)
    await sim.pause(1.0)
    reason = "needs a mentor with people-management experience"
    if await sim.send(pair, RequestRematch, actor=pair.mentee_actor, reason=reason):
        successor = sim.new_pair("rematched successor", 0.6, predecessor=pair)
        await steady(sim, successor, "collegial", "collegial")


async def quiet_inactive(sim: Sim, pair: Pair, silent: bool) -> None:
    """They stop meeting: yellow, red, an inactivity warning, then separation by inactivity (timers)."""
    if await sim.onboard(pair) and await sim.through_trial(pair):
        await sim.meet(pair)
        await sim.until(pair, lambda s: s.stage is not Stage.CULTIVATION, within=40, every=1.0)
        await sim.redefine(pair, None if silent else "ended", None if silent else "ended")


async def quiet_recover(sim: Sim, pair: Pair) -> None:
    """They go quiet until the relationship turns red, then pick up again (health back to green)."""
    if await sim.onboard(pair) and await sim.through_trial(pair):
        await sim.meet(pair)
        await sim.until(pair, lambda s: s.health.value == "red" or s.stage is not Stage.CULTIVATION, within=25)
        await sim.meet(pair, pair.mentee_actor)
        await sim.cultivate(pair)
        await sim.redefine(pair, "collegial", "friendship" if sim.rng.random() < 0.5 else "collegial")


async def mutual(sim: Sim, pair: Pair) -> None:
    """Goals met early: one proposes to separate, the other consents (winding down)."""
    if await sim.onboard(pair) and await sim.through_trial(pair):
        await sim.cultivate(pair, until=sim.deadline(pair, 0.45, 16))
        reason = "goals met ahead of plan"
        if await sim.send(pair, ProposeSeparation, actor=pair.mentee_actor, reason=reason):
            await sim.pause(0.3)  # the consent window is 14 demo days (3.5 s)
            await sim.send(pair, ConsentSeparation, actor=pair.mentor_actor)
        await sim.redefine(pair, "friendship", "friendship")


async def contested(sim: Sim, pair: Pair, resolution: str, wait: float | None) -> None:
    """A one-sided separation: no consent in the window, so it is contested and goes to the program manager, who
    resolves it ``wait`` seconds later: ``end`` (winding down) or ``reconcile`` (back to cultivation). With ``wait``
    None the manager never decides: re-escalated every 7 demo days, the case gets the policy's default decision
    (``end``) by the timer after 30 (trigger=timer in the transitions report)."""
    if not (await sim.onboard(pair) and await sim.through_trial(pair)):
        return
    await sim.cultivate(pair, until=sim.deadline(pair, 0.35, 15))
    reason = "relocating to another office"
    if not await sim.send(pair, ProposeSeparation, actor=pair.mentor_actor, reason=reason):
        return
    state = await sim.until(pair, lambda s: s.substate is not Substate.AWAITING_CONSENT, within=30)
    if state.substate is Substate.CONTESTED and wait is None:
        await sim.until(pair, lambda s: s.substate is not Substate.CONTESTED, within=40, every=1.0)
    elif state.substate is Substate.CONTESTED and wait is not None:
        await sim.pause(wait)
        note = "talked to both; " + ("ending as planned" if resolution == "end" else "they will continue remotely")
        await sim.send(pair, ResolveSeparation, actor=sim.manager, resolution=resolution, note=note)
    if sim.state(pair).stage is Stage.CULTIVATION:
        await sim.cultivate(pair)
        await sim.redefine(pair, "collegial", "collegial")
    else:
        await sim.redefine(pair, "ended", "collegial")  # they disagree: ended


async def late_consent(sim: Sim, pair: Pair) -> None:
    """The mentor proposes to separate; the mentee answers only after the consent window (the case is contested):
    the late consent ends the case as a mutual separation."""
    if not (await sim.onboard(pair) and await sim.through_trial(pair)):
        return
    await sim.cultivate(pair, until=sim.deadline(pair, 0.35, 15))
    if not await sim.send(pair, ProposeSeparation, actor=pair.mentor_actor, reason="changing careers"):
        return
    state = await sim.until(pair, lambda s: s.substate is not Substate.AWAITING_CONSENT, within=30)
    if state.substate is Substate.CONTESTED:
        await sim.pause(0.8)
        await sim.send(pair, ConsentSeparation, actor=pair.mentee_actor)
    await sim.redefine(pair, "collegial", "collegial")


async def trial_fails(sim: Sim, pair: Pair) -> None:
    """Signed, then one meeting only: the trial window ends short (escalated to the manager, health red), the grace
    runs out, and the relationship closes (``trial_failed``)."""
    if not await sim.onboard(pair):
        return
    await sim.pause(1.5)
    await sim.meet(pair)
    await sim.until(pair, lambda s: s.is_closed, within=40, every=1.0)


async def reassigned(sim: Sim, pair: Pair) -> None:
    """The program manager rematches the pair during the trial: the relationship closes ``rematched`` naming its
    successor, and the successor (same mentee, a new mentor) links back with ``predecessor_id``."""
    if not await sim.onboard(pair):
        return
    await sim.pause(1.5)
    await sim.meet(pair)
    successor = sim.new_pair("reassigned successor", 0.6, predecessor=pair)
    reason = "mentor moved to another site"
    if await sim.send(pair, Reassign, actor=sim.manager, successor_id=successor.relationship_id, reason=reason):
        await steady(sim, successor, "collegial", "friendship")


async def renewal(sim: Sim, pair: Pair) -> None:
    """A short first term, renewed once by both; the renewed term ends by the timer."""
    if await sim.onboard(pair) and await sim.through_trial(pair):
        await sim.cultivate(pair, until=sim.deadline(pair, 0.5, 13))
        for actor in (pair.mentee_actor, pair.mentor_actor):
            await sim.pause(0.5)
            await sim.send(pair, RequestRenewal, actor=actor)
        await sim.cultivate(pair)
        await sim.redefine(pair, "collegial", "friendship")  # disagreement: ended


async def pause_resume(sim: Sim, pair: Pair) -> None:
    """The mentee pauses for exams (the inactivity clock stops), then resumes."""
    if await sim.onboard(pair) and await sim.through_trial(pair):
        await sim.cultivate(pair, until=sim.deadline(pair, 0.2, 13))
        if await sim.send(pair, Pause, actor=pair.mentee_actor, reason="exam period"):
            await sim.pause(5.0)
            await sim.send(pair, Resume, actor=pair.mentee_actor)
        await sim.cultivate(pair)
        await sim.redefine(pair, "friendship", "friendship")


async def terminated(sim: Sim, pair: Pair) -> None:
    """The program manager ends it (a reason code is required)."""
    if await sim.onboard(pair) and await sim.through_trial(pair):
        await sim.cultivate(pair, until=sim.deadline(pair, 0.3, 15))
        code = sim.rng.choice(("conduct", "left_company"))
        await sim.send(pair, Terminate, actor=sim.manager, reason_code=code, note="see HR case")


Story = Callable[[Sim, Pair], Awaitable[None]]

SCENARIOS: dict[str, tuple[float, Story]] = {
    # name: (term as a fraction of --term, story)
    "steady, collegial": (1.0, lambda s, p: steady(s, p, "collegial", "collegial")),
    "steady, friendship": (1.0, lambda s, p: steady(s, p, "friendship", "friendship")),
    "steady, disagree": (0.8, lambda s, p: steady(s, p, "collegial", "friendship")),
    "steady, silent": (0.5, lambda s, p: steady(s, p, None, None)),
    "steady, marginal": (0.9, lambda s, p: steady(s, p, "ended", "collegial", marginal=True)),
    "decline": (1.0, decline),
    "expire": (1.0, expire),
    "did not start": (1.0, did_not_start),
    "rematch": (1.0, rematch),
    "quiet, separated": (1.0, lambda s, p: quiet_inactive(s, p, silent=False)),
    "quiet, silent": (1.0, lambda s, p: quiet_inactive(s, p, silent=True)),
    "quiet, recovers": (1.0, quiet_recover),
    "mutual separation": (1.0, mutual),
    "contested, ended": (1.0, lambda s, p: contested(s, p, "end", 4.0)),
    "contested, timer decides": (1.0, lambda s, p: contested(s, p, "end", None)),
    "contested, late consent": (1.0, late_consent),
    "trial fails": (1.0, trial_fails),
    "reassigned": (1.0, reassigned),
    "contested, reconciled": (0.9, lambda s, p: contested(s, p, "reconcile", 3.0)),
    "renewal": (0.3, renewal),
    "pause": (1.0, pause_resume),
    "terminated": (1.0, terminated),
}

FULL_PLAN: tuple[str, ...] = (
    # the first eight make the smallest sensible program (the e2e test runs them)
    "steady, collegial", "decline", "rematch", "quiet, separated", "contested, ended", "renewal", "expire",
    "steady, friendship",
    # then the edge cases a program manager meets, and a realistic mix
    "trial fails", "reassigned", "contested, late consent", "contested, timer decides",
    "mutual separation", "contested, reconciled", "did not start", "terminated", "pause", "quiet, recovers",
    "steady, disagree", "steady, silent", "steady, marginal", "quiet, silent",
    "steady, collegial", "decline", "steady, friendship", "rematch", "steady, collegial", "mutual separation",
    "renewal", "steady, collegial", "quiet, recovers", "steady, friendship", "decline", "steady, collegial",
    "quiet, separated", "steady, disagree", "mutual separation", "steady, collegial", "renewal", "expire",
    "steady, friendship", "rematch", "steady, collegial", "steady, marginal", "quiet, silent", "pause",
    "steady, collegial", "decline", "terminated", "steady, friendship", "did not start", "mutual separation",
    "steady, collegial", "renewal", "quiet, recovers", "rematch", "steady, collegial", "steady, friendship",
    "mutual separation",
)  # fmt: skip


def plan(n: int) -> list[str]:
    """The stories of ``n`` initial relationships (rematches add a successor each)."""
    stories = list(FULL_PLAN[:n])
    while len(stories) < n:
        stories.append("steady, collegial" if len(stories) % 2 else "steady, friendship")
    return stories
