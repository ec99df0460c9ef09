"""The inputs of the preference losses (:mod:`turngym.algos.preference`) from
:class:`~turngym.algos.pairs.PreferencePair` s: each side's per-unit log pi (with grad) beside
the reference's. Each side's log pi(y) sums its units over all turns, every unit tagged by its
turn for DMPO. Shapes: ``step`` (each turn scored on its own prompt) or ``conversation`` (one
sequence per trajectory; see :mod:`turngym.algos.pairs`). KTO reads the pairs unpaired
(:func:`kto_batch`), TDPO adds the per-unit sequential KL (:func:`tdpo_batch`);
:func:`loss_batch` picks the builder by the loss's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from turngym.agents.agent import AgentConfig
from turngym.agents.scoring import continuation_logprobs
from turngym.agents.trajectory import Trajectory

from .pairs import PreferencePair, conversation_tokens, mismatched, turn_samples
from .preference import KTOBatch, PreferenceBatch, sequential_kl_from_logits
from .samples import StepSample, pad_units, sample_log_distributions, sample_logprobs
from .wpo import alignment_log_terms, response_log_weights

#: losses that read the full per-unit distributions of policy and reference (tdpo_batch)
SEQUENTIAL_KL_LOSSES = ("tdpo1", "tdpo2")
UNPAIRED_LOSSES = ("kto", "kto_no_kl")  # read a KTOBatch; only kto scores mismatched pairs


def trajectory_logprobs(
    model: torch.nn.Module,
    tokenizer: Any,
    trajectories: list[Trajectory],
    agent_config: AgentConfig,
    shape: str = "step",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-unit log pi of each trajectory, right-padded: (values, mask, turn index), [B, U].

    ``step``: the units of every turn scored on that turn's prompt (one choice per turn in
    ``choose`` mode, response tokens in ``generate`` mode). ``conversation``: the assistant
    tokens of the whole-conversation sequence (token log-probs in either mode).
    """
    pad = tokenizer.pad_token_id or 0
    temperature = agent_config.temperature or 1.0
    if shape == "step":
        samples = [s for t in trajectories for s in turn_samples(t)]
        flat = sample_logprobs(model, samples, agent_config.mode, temperature, pad)
        rows, turns, cursor = [], [], 0
        for trajectory in trajectories:
            per_turn = flat[cursor : cursor + trajectory.length]
            cursor += trajectory.length
            rows.append(torch.cat(per_turn) if per_turn else torch.zeros(0))
            turns.append([j for j, units in enumerate(per_turn) for _ in range(len(units))])
    elif shape == "conversation":
        conversations = [conversation_tokens(t, tokenizer) for t in trajectories]
        scored = continuation_logprobs(
            model,
            [c.input_ids[:1] for c in conversations],
            [c.input_ids[1:] for c in conversations],
            temperature=temperature,
            pad_token_id=pad,
        )
        rows, turns = [], []
        for conversation, values in zip(conversations, scored, strict=True):
            keep = torch.tensor(conversation.loss_mask[1:], dtype=torch.bool)
            rows.append(values[keep])
            turns.append([j for j in conversation.turn_index[1:] if j >= 0])
    else:
        raise ValueError(f"shape={shape!r}: use 'step' or 'conversation'")
    values, mask = _pad_rows(rows)
    turn_index, _ = pad_units(turns)
    return values, mask, turn_index[:, : values.shape[1]].long()


def _pad_rows(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``pad_units`` that keeps the autograd graph of each row."""
    width = max(max((len(r) for r in rows), default=0), 1)
    values = torch.stack([torch.nn.functional.pad(r, (0, width - len(r))) for r in rows])
    mask = torch.zeros_like(values.detach())
    for i, r in enumerate(rows):
        mask[i, : len(r)] = 1
    return values, mask


def reference_logprobs(
    reference_model: torch.nn.Module,
    tokenizer: Any,
    pairs: list[PreferencePair],
    agent_config: AgentConfig,
    shape: str = "step",
) -> list[tuple[torch.Tensor, ...]]:
    """:func:`trajectory_logprobs` of each pair's ``[chosen, rejected]`` under the reference,
    without grad: the ``reference`` argument of the batch builders."""
    with torch.no_grad():
        return [
            trajectory_logprobs(
                reference_model, tokenizer, [p.chosen, p.rejected], agent_config, shape
            )
            for p in pairs
        ]


def loss_batch(
    loss: str,
    model: torch.nn.Module,
    reference_model: torch.nn.Module,
    tokenizer: Any,
    pairs: list[PreferencePair],
    agent_config: AgentConfig,
    shape: str = "step",
    reference: list[tuple[torch.Tensor, ...]] | None = None,
) -> PreferenceBatch | KTOBatch:
    """The input of the registered preference loss named ``loss`` on ``pairs``, with grad
    through ``model``: :func:`tdpo_batch` for ``tdpo1``/``tdpo2``, :func:`kto_batch` for
    ``kto`` and ``kto_no_kl``, :func:`preference_batch` for the others.

    ``reference`` holds :func:`reference_logprobs` of ``pairs`` when they were scored ahead
    (e.g. once for all epochs); None: they are scored now. TDPO always scores
    ``reference_model`` itself (it reads whole distributions).
    """
    if loss in SEQUENTIAL_KL_LOSSES:
        return tdpo_batch(model, reference_model, tokenizer, pairs, agent_config, shape)
    if reference is None:
        reference = reference_logprobs(reference_model, tokenizer, pairs, agent_config, shape)
    if loss in UNPAIRED_LOSSES:
        return kto_batch(model, reference_model, tokenizer, pairs, reference, agent_config, shape,
                         reference_point=loss == "kto")  # fmt: skip
    return preference_batch(model, tokenizer, pairs, reference, agent_config, shape)


def preference_batch(
    model: torch.nn.Module,
    tokenizer: Any,
    pairs: list[PreferencePair],
    reference: list[tuple[torch.Tensor, ...]],
    agent_config: AgentConfig,
    shape: str = "step",
) -> PreferenceBatch:
    """Policy log-probs of both sides of ``pairs`` (with grad) next to their reference values.

    ``reference[i]`` is :func:`trajectory_logprobs` of ``[chosen_i, rejected_i]`` under the
    reference model.
    """
    sides = stacked_sides(pairs)
    values, mask, turn_index = trajectory_logprobs(model, tokenizer, sides, agent_config, shape)
    ref_values = _reference_rows(reference, values.shape[1])
    return split_sides(len(pairs), values, mask, ref_values, turn_index=turn_index)


def kto_batch(
    model: torch.nn.Module,
    reference_model: torch.nn.Module,
    tokenizer: Any,
    pairs: list[PreferencePair],
    reference: list[tuple[torch.Tensor, ...]],
    agent_config: AgentConfig,
    shape: str = "step",
    reference_point: bool = True,
) -> KTOBatch:
    """KTO's unpaired examples from B pairs: the B chosen sides (desirable), then the B rejected
    sides (undesirable), as TRL unpairs a preference set; ``reference`` as for
    :func:`preference_batch`.

    Reference point z0 (KTO paper, sec. 4.1): side i's prompts with side i+1's responses
    (:func:`~turngym.algos.pairs.mismatched`, TRL's shift by one), scored under no grad by
    both models; the loss takes sg(max(0, mean log-ratio)) of them. ``reference_point=False``
    (``kto_no_kl``, z0 = 0) skips them.
    """
    sides = stacked_sides(pairs)
    values, mask, _ = trajectory_logprobs(model, tokenizer, sides, agent_config, shape)
    desirable = torch.arange(len(sides)) < len(pairs)
    ref_values = _reference_rows(reference, values.shape[1])
    if not reference_point:
        return KTOBatch(policy=values, reference=ref_values, mask=mask, desirable=desirable)
    shifted = [mismatched(side, sides[(i + 1) % len(sides)]) for i, side in enumerate(sides)]
    with torch.no_grad():
        policy_kl, kl_mask, _ = trajectory_logprobs(model, tokenizer, shifted, agent_config, shape)
        reference_kl, _, _ = trajectory_logprobs(
            reference_model, tokenizer, shifted, agent_config, shape
        )
    return KTOBatch(
        policy=values,
        reference=ref_values,
        mask=mask,
        desirable=desirable,
        policy_kl=policy_kl,
        reference_kl=reference_kl,
        kl_mask=kl_mask,
    )


def tdpo_batch(
    model: torch.nn.Module,
    reference_model: torch.nn.Module,
    tokenizer: Any,
    pairs: list[PreferencePair],
    agent_config: AgentConfig,
    shape: str = "step",
) -> PreferenceBatch:
    """A :class:`PreferenceBatch` with TDPO's per-unit sequential KL,
    KL(pi_ref(. | x, y_<t) || pi(. | x, y_<t)), from one policy and one reference forward.

    A unit's distribution is the one it was drawn from: the vocabulary at a token (``generate``
    mode and the conversation shape), the admissible actions at a choice (``choose`` mode in
    the step shape, so D_SeqKL sums one KL per turn).
    """
    sides = stacked_sides(pairs)
    temperature, pad = agent_config.temperature or 1.0, tokenizer.pad_token_id or 0
    units = UnitSamples.of(sides, tokenizer, agent_config, shape)
    policy = sample_log_distributions(model, units.samples, units.mode, temperature, pad)
    with torch.no_grad():
        ref = sample_log_distributions(reference_model, units.samples, units.mode, temperature,
                                       pad)  # fmt: skip
    rows = []  # per sample: [3, U] rows of log pi, log pi_ref and the KL
    for sample, logp, ref_logp in zip(units.samples, policy, ref, strict=True):
        taken = units.taken(sample, logp.device)
        rows.append(
            torch.stack(
                [
                    logp.gather(1, taken[:, None])[:, 0],
                    ref_logp.gather(1, taken[:, None])[:, 0],
                    sequential_kl_from_logits(logp, ref_logp),  # log-probs are valid logits
                ]
            )
        )
    per_side = units.per_side(rows)
    values, mask = _pad_rows([side[0] for side in per_side])
    ref_values, _ = _pad_rows([side[1] for side in per_side])
    kl, _ = _pad_rows([side[2] for side in per_side])
    return split_sides(len(pairs), values, mask, ref_values, sequential_kl=kl)


@dataclass
class UnitSamples:
    """Trajectories cut into the samples whose units are scored, in either shape: ``step`` (one
    sample per turn on its own prompt, in the agent's mode) or ``conversation`` (one sample per
    trajectory, token units, ``keep`` selecting its assistant tokens)."""

    mode: str
    samples: list[StepSample]
    counts: list[int]  # samples per trajectory
    keep: list[torch.Tensor | None]  # per sample, the units to keep (None: all)

    @classmethod
    def of(
        cls, trajectories: list[Trajectory], tokenizer: Any, agent_config: AgentConfig, shape: str
    ) -> UnitSamples:
        if shape == "step":
            samples = [s for t in trajectories for s in turn_samples(t)]
            counts = [t.length for t in trajectories]
            return cls(agent_config.mode, samples, counts, [None] * len(samples))
        if shape == "conversation":
            conversations = [conversation_tokens(t, tokenizer) for t in trajectories]
            samples = [StepSample(c.input_ids[:1], c.input_ids[1:], [], 0.0) for c in conversations]
            keep = [torch.tensor(c.loss_mask[1:], dtype=torch.bool) for c in conversations]
            return cls("generate", samples, [1] * len(trajectories), keep)
        raise ValueError(f"shape={shape!r}: use 'step' or 'conversation'")

    def taken(self, sample: StepSample, device: torch.device) -> torch.Tensor:
        """The index of each unit's outcome in its distribution: the choice or the tokens."""
        ids = [sample.chosen_index] if self.mode == "choose" else sample.response_ids
        return torch.tensor(ids, device=device)

    def per_side(self, rows: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per-sample ``[R, U]`` rows (kept units only) joined per trajectory, ``[R, U_total]``."""
        kept = [r if k is None else r[:, k] for r, k in zip(rows, self.keep, strict=True)]
        joined, cursor = [], 0
        for count in self.counts:
            joined.append(torch.cat(kept[cursor : cursor + count], dim=1))
            cursor += count
        return joined


@torch.no_grad()
def wpo_log_weights(
    model: torch.nn.Module,
    tokenizer: Any,
    trajectories: list[Trajectory],
    agent_config: AgentConfig,
    shape: str,
    alignment: str,
) -> torch.Tensor:
    """WPO's log w(x, y) of each trajectory under ``model`` (:mod:`turngym.algos.wpo`): the mean
    over its units of log pi(y_t) - log A_t, A_t from the unit's whole distribution."""
    temperature, pad = agent_config.temperature or 1.0, tokenizer.pad_token_id or 0
    units = UnitSamples.of(trajectories, tokenizer, agent_config, shape)
    distributions = sample_log_distributions(model, units.samples, units.mode, temperature, pad)
    rows = []
    for sample, logp in zip(units.samples, distributions, strict=True):
        taken = logp.gather(1, units.taken(sample, logp.device)[:, None])[:, 0]
        rows.append(torch.stack([taken, alignment_log_terms(logp, alignment)]))
    per_side = units.per_side(rows)
    logps, mask = _pad_rows([side[0] for side in per_side])
    log_alignment, _ = _pad_rows([side[1] for side in per_side])
    return response_log_weights(logps, log_alignment, mask)


def stacked_sides(pairs: list[PreferencePair]) -> list[Trajectory]:
    """Every chosen side, then every rejected side: the row order :func:`split_sides` reads."""
    return [p.chosen for p in pairs] + [p.rejected for p in pairs]


def split_sides(
    n: int, values: torch.Tensor, mask: torch.Tensor, ref_values: torch.Tensor, **per_token
) -> PreferenceBatch:
    """A :class:`PreferenceBatch` from rows stacked as [chosen_1..n, rejected_1..n];
    ``per_token`` names optional fields (``turn_index`` -> ``chosen_turn_index``, ...)."""
    extra = {}
    for name, rows in per_token.items():
        extra[f"chosen_{name}"], extra[f"rejected_{name}"] = rows[:n], rows[n:]
    return PreferenceBatch(
        policy_chosen=values[:n],
        policy_rejected=values[n:],
        chosen_mask=mask[:n],
        rejected_mask=mask[n:],
        ref_chosen=ref_values[:n],
        ref_rejected=ref_values[n:],
        **extra,
    )


def _reference_rows(reference: list[tuple[torch.Tensor, ...]], width: int) -> torch.Tensor:
    """Reference log-probs in the order chosen_1..chosen_B, rejected_1..rejected_B, [2B, width]."""
    rows = [ref[k, : int(ref_mask[k].sum())] for k in (0, 1) for ref, ref_mask, _ in reference]
    values, _ = _pad_rows(rows)
    return torch.nn.functional.pad(values, (0, width - values.shape[1]))
