import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from turngym.agents.scoring import candidate_logprobs, continuation_logprobs


def test_tiny_model_round_trips_through_save_pretrained(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "qwen2"
    assert model.config.tie_word_embeddings is False
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    assert model.config.vocab_size == len(tokenizer)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_tokenizer_is_byte_level_and_has_a_chat_template(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "go to drawer 1 — ünïcödé 漢字 \x00 🙂"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    messages = [{"role": "user", "content": "hi"}]
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.convert_ids_to_tokens(tokenizer.eos_token_id) == "<|im_end|>"
    # the task vocabulary is compact: an admissible action is a handful of tokens
    assert len(tokenizer.encode("go to cabinet 1", add_special_tokens=False)) <= 6


def test_generated_logprobs_match_scoring(backend):
    torch.manual_seed(0)
    prompts = [[5, 6, 7, 8, 9, 10], [11, 12, 13]]  # different lengths: left padding is exercised
    generations = backend.generate(prompts, max_new_tokens=12, temperature=1.0)
    assert len(generations) == 2
    for prompt, generation in zip(prompts, generations, strict=True):
        assert 0 < len(generation.token_ids) <= 12
        assert len(generation.logprobs) == len(generation.token_ids)
        assert generation.finish_reason in {"stop", "length"}
        if generation.finish_reason == "stop":
            assert generation.token_ids[-1] == backend.eos_token_id
        scored = backend.score([prompt], [generation.token_ids])[0]
        assert max(abs(a - b) for a, b in zip(scored, generation.logprobs, strict=True)) < 1e-4


def test_greedy_generation_is_deterministic(backend):
    first = backend.generate([[5, 6, 7]], max_new_tokens=8, temperature=0)
    second = backend.generate([[5, 6, 7]], max_new_tokens=8, temperature=0)
    assert first[0].token_ids == second[0].token_ids


def test_packed_candidate_scoring_equals_one_row_per_candidate(backend):
    torch.manual_seed(1)
    prompts = [torch.randint(5, 400, (n,)).tolist() for n in (30, 9, 55)]
    candidates = [[torch.randint(5, 400, (k,)).tolist() for k in sizes]
                  for sizes in ((3, 5, 1), (7,), (2, 2, 4, 6))]  # fmt: skip
    packed = candidate_logprobs(backend.model, prompts, candidates, max_tokens_per_chunk=64)
    for prompt, cands, per_prompt in zip(prompts, candidates, packed, strict=True):
        rows = continuation_logprobs(backend.model, [prompt] * len(cands), cands)
        for expected, got in zip(rows, per_prompt, strict=True):
            assert torch.allclose(expected, got, atol=1e-5)


def test_scoring_gradients_flow(backend):
    values = continuation_logprobs(backend.model, [[5, 6, 7]], [[8, 9]])
    values[0].sum().backward()
    assert backend.model.lm_head.weight.grad is not None


def test_generated_logprobs_are_of_the_temperature_scaled_distribution(backend):
    """What the protocol promises: log softmax(z / T) of the raw logits, T the temperature."""
    torch.manual_seed(3)
    prompt, temperature = [5, 6, 7, 8], 0.6
    (generation,) = backend.generate([prompt], max_new_tokens=6, temperature=temperature)
    ids = torch.tensor([prompt + generation.token_ids])
    with torch.no_grad():
        logits = backend.model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
    taken = torch.tensor(generation.token_ids)[:, None]
    scaled = torch.log_softmax(logits / temperature, -1).gather(1, taken)[:, 0]
    unscaled = torch.log_softmax(logits, -1).gather(1, taken)[:, 0]
    assert torch.allclose(torch.tensor(generation.logprobs), scaled, atol=1e-4)
    assert not torch.allclose(torch.tensor(generation.logprobs), unscaled, atol=1e-3)
