"""Log-probabilities of given continuations under a causal LM (used by rollouts and trainers).

For a prompt p and continuation c, log pi(c_k | p, c_<k) = log_softmax(logits / T)[c_k] at the
position that precedes c_k. Rows are right-padded and run in chunks bounded by a token budget.
"""

from __future__ import annotations

import torch


def continuation_logprobs(
    model: torch.nn.Module,
    prompts: list[list[int]],
    continuations: list[list[int]],
    temperature: float = 1.0,
    pad_token_id: int = 0,
    max_tokens_per_chunk: int = 65536,
    with_entropy: bool = False,
) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[torch.Tensor]]:
    """One 1-D tensor of per-token log-probs per (prompt, continuation) pair.

    Gradients flow when called with grad enabled. An empty continuation gives an empty tensor.
    With ``with_entropy``, also the entropy H = -sum_v p_v log p_v of each of those positions'
    next-token distributions (at the same temperature).
    """
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
    results: list[torch.Tensor | None] = [None] * len(prompts)
    entropies: list[torch.Tensor | None] = [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(continuations[i]))
    device = next(model.parameters()).device
    chunk: list[int] = []
    longest = 0
    for index in order + [None]:
        if index is not None:
            length = len(prompts[index]) + len(continuations[index])
            if not chunk or max(longest, length) * (len(chunk) + 1) <= max_tokens_per_chunk:
                chunk.append(index)
                longest = max(longest, length)
                continue
        scored = _score_chunk(
            model, chunk, prompts, continuations, temperature, pad_token_id, device
        )
        for i, (values, entropy) in zip(chunk, scored, strict=True):
            results[i], entropies[i] = values, entropy
        if index is not None:
            chunk, longest = [index], len(prompts[index]) + len(continuations[index])
    if with_entropy:
        return results, entropies  # type: ignore[return-value]
    return results  # type: ignore[return-value]


def _score_chunk(model, indices, prompts, continuations, temperature, pad_token_id, device):
    rows = [prompts[i] + continuations[i] for i in indices]
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    row_index, position, target = [], [], []
    for r, (i, row) in enumerate(zip(indices, rows, strict=True)):
        input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[r, : len(row)] = 1
        start = len(prompts[i])
        if start == 0 and continuations[i]:
            raise ValueError("a continuation needs a non-empty prompt to be scored")
        for k in range(len(continuations[i])):
            row_index.append(r)
            position.append(start + k - 1)
            target.append(row[start + k])
    logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
    picked = logits[torch.tensor(row_index), torch.tensor(position)].float() / temperature
    distribution = torch.log_softmax(picked, dim=-1)
    token_logprobs = distribution.gather(1, torch.tensor(target, device=device)[:, None])[:, 0]
    entropy = -(distribution.exp() * distribution).sum(dim=-1)
    sizes = [len(continuations[i]) for i in indices]
    return list(zip(torch.split(token_logprobs, sizes), torch.split(entropy, sizes), strict=True))


def candidate_logprobs(
    model: torch.nn.Module,
    prompts: list[list[int]],
    candidates: list[list[list[int]]],
    pad_token_id: int = 0,
    max_tokens_per_chunk: int = 16384,
) -> list[list[torch.Tensor]]:
    """Per-token log-probs of every candidate continuation of every prompt, packed.

    Each prompt and all its candidates share one row: ``prompt, c_1, c_2, ...``. A block
    attention mask lets each candidate see the prompt and its own earlier tokens only, and its
    position ids restart where the prompt ends, so the result equals scoring each
    (prompt, candidate) pair in its own row, while the prompt is computed once.
    """
    if len(prompts) != len(candidates):
        raise ValueError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
    results: list[list[torch.Tensor] | None] = [None] * len(prompts)
    lengths = [len(p) + sum(len(c) for c in cs) for p, cs in zip(prompts, candidates, strict=True)]
    order = sorted(range(len(prompts)), key=lengths.__getitem__)
    chunk: list[int] = []
    for index in order + [None]:
        if index is not None and (
            not chunk or lengths[index] * (len(chunk) + 1) <= max_tokens_per_chunk
        ):
            chunk.append(index)
            continue
        scored = _score_packed(
            model, [prompts[i] for i in chunk], [candidates[i] for i in chunk], pad_token_id
        )
        for i, values in zip(chunk, scored, strict=True):
            results[i] = values
        chunk = [index]
    return results  # type: ignore[return-value]


def _score_packed(model, prompts, candidates, pad_token_id):
    rows, positions, blocks = [], [], []
    for prompt, cands in zip(prompts, candidates, strict=True):
        if not prompt:
            raise ValueError("candidates need a non-empty prompt to be scored")
        row, position, spans = list(prompt), list(range(len(prompt))), []
        for cand in cands:
            spans.append((len(row), len(cand)))
            row += cand
            position += range(len(prompt), len(prompt) + len(cand))
        rows.append(row)
        positions.append(position)
        blocks.append(spans)
    width = max(len(row) for row in rows)
    batch = len(rows)
    input_ids = torch.full((batch, width), pad_token_id, dtype=torch.long)
    position_ids = torch.zeros((batch, width), dtype=torch.long)
    allowed = torch.zeros((batch, width, width), dtype=torch.bool)
    causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
    row_index, query, target, sizes = [], [], [], []
    for b, (prompt, row, position, spans) in enumerate(
        zip(prompts, rows, positions, blocks, strict=True)
    ):
        input_ids[b, : len(row)] = torch.tensor(row)
        position_ids[b, : len(row)] = torch.tensor(position)
        p = len(prompt)
        allowed[b, :p, :p] = causal[:p, :p]
        for start, size in spans:
            end = start + size
            allowed[b, start:end, :p] = True
            allowed[b, start:end, start:end] = causal[:size, :size]
            previous = [p - 1] + list(range(start, end - 1))
            row_index += [b] * size
            query += previous
            target += row[start:end]
            sizes.append(size)
        allowed[b, len(row) :, len(row) :] = torch.eye(width - len(row), dtype=torch.bool)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    logits = model(
        input_ids=input_ids.to(device),
        attention_mask=mask[:, None].to(device),
        position_ids=position_ids.to(device),
    ).logits
    picked = logits[torch.tensor(row_index), torch.tensor(query)].float()
    token_logprobs = torch.log_softmax(picked, dim=-1)
    token_logprobs = token_logprobs.gather(1, torch.tensor(target, device=device)[:, None])[:, 0]
    flat = list(torch.split(token_logprobs, sizes))
    out, cursor = [], 0
    for spans in blocks:
        out.append(flat[cursor : cursor + len(spans)])
        cursor += len(spans)
    return out
