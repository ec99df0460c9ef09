"""An OpenAI-compatible HTTP server for a local checkpoint on the transformers backend.

Routes: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions``
(``logprobs``, ``top_logprobs``, vLLM's ``guided_choice``), ``POST /v1/completions``
(``logprobs`` = k alternatives; ``echo``, with ``logprobs`` also the prompt's log-probabilities,
and with ``max_tokens: 0`` only those), ``GET /health``. Concurrent requests are batched
(:class:`~turngym.agents.serve.batching.BatchingGenerator`).

Every refused request gets the OpenAI error body and a 4xx: malformed JSON or a bad field 400,
an unknown model 404, a prompt plus ``max_tokens`` beyond the model's context 400, a body over
``max_body_bytes`` 413; anything unexpected 500 with the same body, and the server goes on
serving. ``stream: true`` is answered as server-sent events once the generation is done (a role
chunk, one content chunk per choice, a finish chunk, the usage with
``stream_options.include_usage``, ``[DONE]``), not token by token.

Log-probabilities are those of the distribution sampled from: log softmax(z / T) with T the
request's temperature, and T = 1 for greedy decoding (temperature 0), i.e. the model's own
distribution. ``seed`` is accepted and ignored (requests in one batch share one random stream).

Example:
    >>> with ModelServer.from_checkpoint("runs/x/checkpoints/iter_00010") as server:
    ...     client = openai.OpenAI(base_url=server.base_url, api_key="none")
    ...     client.chat.completions.create(model=server.model_name, messages=[...])
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from ..backends.base import Generation
from .batching import BatchingGenerator, GenerationJob
from .protocol import (
    ApiError,
    ChatCompletionRequest,
    CompletionRequest,
    parse_request,
)

DEFAULT_HOST = "127.0.0.1"


class ModelServer:
    """Serves ``backend`` (a :class:`~turngym.agents.backends.TransformersBackend`) as
    ``model_name`` from a background thread, or in the caller's thread (:meth:`serve_forever`).

    Args:
        backend: the inference backend; its ``tokenizer`` and ``model.config`` are read.
        model_name: the id clients send as ``model``.
        host, port: where to listen (port 0: a free port, see ``port`` after construction).
        max_batch_size: prompts per forward pass (1: no batching).
        batch_wait_s: how long the batcher waits for more requests after the first.
        max_model_len: prompt + completion tokens allowed (default: the model's positions).
        max_body_bytes: the largest request body accepted.
        request_timeout_s: a request waiting longer for its generation gets a 503.
        max_top_logprobs: the most alternatives per token a request may ask for (OpenAI: 20).
        api_key: when given, ``/v1/*`` requests need ``Authorization: Bearer <api_key>`` (401).
    """

    def __init__(
        self,
        backend: Any,
        model_name: str,
        host: str = DEFAULT_HOST,
        port: int = 0,
        max_batch_size: int = 16,
        batch_wait_s: float = 0.005,
        max_model_len: int | None = None,
        max_body_bytes: int = 8 * 2**20,
        request_timeout_s: float = 600.0,
        max_top_logprobs: int = 20,
        api_key: str | None = None,
    ):
        self.backend = backend
        self.tokenizer = backend.tokenizer
        self.model_name = model_name
        positions = getattr(backend.model.config, "max_position_embeddings", None) or 2048
        self.max_model_len = min(max_model_len or positions, positions)
        self.request_timeout_s = request_timeout_s
        self.max_top_logprobs = max_top_logprobs
        self.api_key = api_key
        self.batcher = BatchingGenerator(backend, max_batch_size, batch_wait_s)
        self._tokenizer_lock = threading.Lock()  # a Rust tokenizer is not shared across threads
        self.created = int(time.time())
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = self._app(max_body_bytes)
        self._server = make_server(host, port, app, threaded=True)
        self.host, self.port = host, self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, model_name: str | None = None, dtype: str = "float32", **kw
    ) -> ModelServer:
        """A server for a ``save_pretrained`` folder or Hugging Face name (``model_name``
        defaults to the folder's name)."""
        from ..backends import make_backend

        backend = make_backend("transformers", name_or_path=checkpoint, dtype=dtype)
        return cls(backend, model_name or Path(str(checkpoint)).name, **kw)

    @property
    def base_url(self) -> str:
        """The API root clients are given (``http://HOST:PORT/v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ModelServer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
        self.batcher.close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the app --------------------------------------------------------------------------------
    def _app(self, max_body_bytes: int) -> Flask:
        app = Flask("turngym.serve")
        app.config["MAX_CONTENT_LENGTH"] = max_body_bytes

        @app.before_request
        def authorize() -> None:
            if self.api_key is None or not request.path.startswith("/v1/"):
                return
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                raise ApiError(401, "missing or wrong API key (Authorization: Bearer ...)",
                               code="invalid_api_key")  # fmt: skip

        @app.get("/health")
        def health() -> Response:
            return _json({"status": "ok"})

        @app.get("/v1/models")
        def models() -> Response:
            return _json({"object": "list", "data": [self._model_card()]})

        @app.get("/v1/models/<path:name>")
        def model(name: str) -> Response:
            self._check_model(name)
            return _json(self._model_card())

        @app.post("/v1/chat/completions")
        def chat_completions() -> Response:
            body = parse_request(ChatCompletionRequest, _read_json())
            return _answer(self.chat_completion(body), body)

        @app.post("/v1/completions")
        def completions() -> Response:
            body = parse_request(CompletionRequest, _read_json())
            return _answer(self.completion(body), body)

        @app.errorhandler(ApiError)
        def refused(error: ApiError) -> Response:
            return _json(error.body(), error.status)

        @app.errorhandler(HTTPException)
        def http_error(error: HTTPException) -> Response:
            status = error.code or 500
            return _json(ApiError(status, f"{error.name}: {error.description}").body(), status)

        @app.errorhandler(Exception)
        def unexpected(error: Exception) -> Response:
            logging.getLogger(__name__).exception("request failed")
            body = ApiError(500, f"internal error: {type(error).__name__}: {error}",
                            error_type="server_error").body()  # fmt: skip
            return _json(body, 500)

        return app

    def _model_card(self) -> dict[str, Any]:
        return {
            "id": self.model_name,
            "object": "model",
            "created": self.created,
            "owned_by": "turngym",
            "max_model_len": self.max_model_len,
        }

    def _check_model(self, name: str) -> None:
        if name != self.model_name:
            raise ApiError(
                404,
                f"The model {name!r} does not exist; this server serves {self.model_name!r}",
                param="model",
                code="model_not_found",
            )

    # -- the endpoints --------------------------------------------------------------------------
    def chat_completion(self, body: ChatCompletionRequest) -> dict[str, Any]:
        self._check_common(body)
        if body.top_logprobs and not body.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs: true", param="top_logprobs")
        self._check_top_logprobs(body.top_logprobs, "top_logprobs")
        try:
            messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        except ValueError as error:
            raise ApiError(400, f"messages: {error}", param="messages") from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise ApiError(400, "this model has no chat template; use /v1/completions")
        with self._tokenizer_lock:
            try:
                text = self.tokenizer.apply_chat_template(
                    messages, add_generation_prompt=True, tokenize=False
                )
            except Exception as error:  # a template that refuses a role or an order
                raise ApiError(400, f"messages: {error}", param="messages") from None
            prompt = self.tokenizer.encode(text, add_special_tokens=False)
        if body.guided_choice is not None:
            return self._guided_choice(body, prompt)
        budget = self._budget(body, len(prompt), default_to_context=True)
        top = (body.top_logprobs or 0) if body.logprobs else 0
        generations = self._generate([prompt] * body.n, budget, body, top)
        choices = []
        for index, generation in enumerate(generations):
            text, generation, reason = self._finish(generation, body.stop)
            choice = {
                "index": index,
                "message": {"role": "assistant", "content": text},
                "finish_reason": reason,
                "logprobs": self._chat_logprobs(generation) if body.logprobs else None,
            }
            choices.append(choice)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
            "usage": _usage(len(prompt) * body.n, generations),
        }

    def completion(self, body: CompletionRequest) -> dict[str, Any]:
        self._check_common(body)
        self._check_top_logprobs(body.logprobs, "logprobs")
        if body.max_tokens == 0 and not body.echo:
            raise ApiError(400, "max_tokens 0 needs echo: true (the prompt scored, nothing "
                           "generated)", param="max_tokens")  # fmt: skip
        prompts = self._completion_prompts(body.prompt)
        repeated = [p for p in prompts for _ in range(body.n)]
        top = body.logprobs or 0
        if body.max_tokens == 0:
            longest = max(len(p) for p in prompts)
            if longest > self.max_model_len:
                raise ApiError(400, f"This model's maximum context length is "
                               f"{self.max_model_len} tokens; the prompt has {longest}",
                               param="prompt", code="context_length_exceeded")  # fmt: skip
            generations = [Generation([], [], "length") for _ in repeated]
        else:
            budget = self._budget(body, max(len(p) for p in prompts), default_to_context=False)
            generations = self._generate(repeated, budget, body, top)
        scored = {}
        if body.echo and body.logprobs is not None:
            scored = {tuple(p): self._prompt_logprobs(p, top) for p in prompts}
        choices = []
        for index, (prompt, generation) in enumerate(zip(repeated, generations, strict=True)):
            text, generation, reason = self._finish(generation, body.stop)
            logprobs = None
            if body.logprobs is not None:
                logprobs = self._completion_logprobs(
                    generation, top, prompt, scored.get(tuple(prompt))
                )
            if body.echo:
                with self._tokenizer_lock:
                    text = self.tokenizer.decode(prompt) + text
            choices.append(
                {"index": index, "text": text, "finish_reason": reason, "logprobs": logprobs}
            )
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
            "usage": _usage(sum(len(p) for p in repeated), generations),
        }

    def _guided_choice(self, body: ChatCompletionRequest, prompt: list[int]) -> dict[str, Any]:
        """vLLM's ``guided_choice``: the reply is the listed string of the highest
        log-probability, sum_t log p(c_t | prompt, c_<t), scored on the served model."""
        choices = body.guided_choice
        with self._tokenizer_lock:
            candidates = [self.tokenizer.encode(c, add_special_tokens=False) for c in choices]
        if len(prompt) + max(len(c) for c in candidates) > self.max_model_len:
            raise ApiError(400, "guided_choice: prompt and choice exceed the context",
                           param="guided_choice", code="context_length_exceeded")  # fmt: skip
        scores = self.batcher.run_exclusive(
            lambda: self.backend.score_candidates([prompt], [candidates])[0],
            timeout=self.request_timeout_s,
        )
        best = max(range(len(choices)), key=lambda k: sum(scores[k]))
        choice = {"index": 0, "finish_reason": "stop", "logprobs": None,
                  "message": {"role": "assistant", "content": choices[best]}}  # fmt: skip
        completion_tokens = len(candidates[best])
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [choice],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": completion_tokens,
                      "total_tokens": len(prompt) + completion_tokens},
        }  # fmt: skip

    # -- helpers --------------------------------------------------------------------------------
    def _check_top_logprobs(self, asked: int | None, field: str) -> None:
        if asked is not None and asked > self.max_top_logprobs:
            raise ApiError(400, f"{field} may be at most {self.max_top_logprobs}, got {asked}",
                           param=field)  # fmt: skip

    def _check_common(self, body: Any) -> None:
        self._check_model(body.model)

    def _completion_prompts(self, prompt: Any) -> list[list[int]]:
        if isinstance(prompt, str) or (prompt and isinstance(prompt[0], str)):
            texts = [prompt] if isinstance(prompt, str) else prompt
            with self._tokenizer_lock:
                prompts = [self.tokenizer.encode(t, add_special_tokens=False) for t in texts]
        else:
            prompts = [prompt] if prompt and isinstance(prompt[0], int) else list(prompt)
            vocabulary = len(self.tokenizer)
            for ids in prompts:
                if any(not 0 <= i < vocabulary for i in ids):
                    raise ApiError(400, f"prompt: token ids must lie in [0, {vocabulary})",
                                   param="prompt")  # fmt: skip
        if not prompts or any(not ids for ids in prompts):
            raise ApiError(400, "prompt: empty prompts are not supported", param="prompt")
        return prompts

    def _budget(self, body: Any, prompt_tokens: int, default_to_context: bool) -> int:
        room = self.max_model_len - prompt_tokens
        if room < 1:
            where = "messages" if hasattr(body, "messages") else "prompt"
            raise ApiError(400, f"This model's maximum context length is {self.max_model_len} "
                           f"tokens; the prompt has {prompt_tokens}", param=where,
                           code="context_length_exceeded")  # fmt: skip
        asked = body.max_completion_tokens or body.max_tokens
        if asked is None:
            return room if default_to_context else 16
        if asked > room:
            raise ApiError(
                400,
                f"This model's maximum context length is {self.max_model_len} tokens; you asked "
                f"for {prompt_tokens + asked} ({prompt_tokens} in the prompt, {asked} in the "
                "completion). Reduce max_tokens or the prompt.",
                param="max_tokens",
                code="context_length_exceeded",
            )
        return asked

    def _generate(
        self, prompts: list[list[int]], budget: int, body: Any, top_logprobs: int
    ) -> list[Generation]:
        job = GenerationJob(prompts, budget, body.temperature, body.top_p, top_logprobs)
        try:
            return self.batcher.generate(job, timeout=self.request_timeout_s)
        except TimeoutError:
            raise ApiError(503, "generation timed out", error_type="server_error") from None

    def _finish(
        self, generation: Generation, stops: list[str] | None
    ) -> tuple[str, Generation, str]:
        """The reply's text (special tokens dropped, cut before the first stop string), the
        generation cut to the tokens of that text, and the finish reason."""
        ids = generation.token_ids
        if ids and ids[-1] == self.backend.eos_token_id:  # the end-of-turn token is not text
            ids = ids[:-1]
        with self._tokenizer_lock:
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            reason = generation.finish_reason
            cut = min((text.find(s) for s in stops or () if s in text), default=-1)
            if cut >= 0:
                text, reason = text[:cut], "stop"
                kept = 0
                while (
                    kept < len(ids)
                    and len(self.tokenizer.decode(ids[: kept + 1], skip_special_tokens=True)) <= cut
                ):
                    kept += 1
                ids = ids[:kept]
        top = generation.top_logprobs[: len(ids)] if generation.top_logprobs else None
        return text, Generation(ids, generation.logprobs[: len(ids)], reason, top), reason

    def _token_text(self, token_id: int) -> str:
        with self._tokenizer_lock:
            return self.tokenizer.decode([token_id])

    def _chat_logprobs(self, generation: Generation) -> dict[str, Any]:
        content = []
        for k, (token_id, logprob) in enumerate(
            zip(generation.token_ids, generation.logprobs, strict=True)
        ):
            token = self._token_text(token_id)
            alternatives = generation.top_logprobs[k] if generation.top_logprobs else []
            content.append(
                {
                    "token": token,
                    "logprob": _finite(logprob),
                    "bytes": list(token.encode()),
                    "top_logprobs": [
                        {
                            "token": (t := self._token_text(i)),
                            "logprob": _finite(v),
                            "bytes": list(t.encode()),
                        }
                        for i, v in alternatives
                    ],  # fmt: skip
                }
            )
        return {"content": content}

    def _prompt_logprobs(self, prompt: list[int], k: int) -> Generation:
        """log p(x_t | x_<t) of every prompt token after the first (the first has none), and
        its ``k`` alternatives, from one forward pass in the batcher's thread."""
        import torch

        def score() -> Generation:
            model = self.backend.model
            ids = torch.tensor([prompt], device=next(model.parameters()).device)
            with torch.no_grad():
                logprobs = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
            chosen = logprobs.gather(1, ids[0, 1:, None])[:, 0].tolist()
            top = None
            if k:
                values, indices = logprobs.topk(min(k, logprobs.shape[-1]), -1)
                top = [list(zip(i, v, strict=True))
                       for i, v in zip(indices.tolist(), values.tolist(), strict=True)]  # fmt: skip
            return Generation(prompt[1:], chosen, "prompt", top)

        return self.batcher.run_exclusive(score, timeout=self.request_timeout_s)

    def _completion_logprobs(
        self, generation: Generation, k: int, prompt: list[int] | None = None,
        scored: Generation | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The completions API's logprobs; with the ``prompt`` and its ``scored`` tokens (echo),
        the prompt's tokens first, the very first with ``None`` (nothing predicts it)."""
        rows: list[tuple[int, float | None, list]] = []
        if prompt is not None and scored is not None:
            rows.append((prompt[0], None, []))
            rows += zip(scored.token_ids, scored.logprobs, scored.top_logprobs or _none(scored),
                        strict=True)  # fmt: skip
        rows += zip(generation.token_ids, generation.logprobs,
                    generation.top_logprobs or _none(generation), strict=True)  # fmt: skip
        tokens, logprobs, top, offsets, position = [], [], [], [], 0
        for token_id, logprob, alternatives in rows:
            token = self._token_text(token_id)
            tokens.append(token)
            offsets.append(position)
            position += len(token)
            if logprob is None:
                logprobs.append(None)
                top.append(None)
                continue
            entry: dict[str, float] = {}
            for i, v in alternatives if k else []:  # two ids may spell alike: keep the likelier
                entry.setdefault(self._token_text(i), _finite(v))
            entry.setdefault(token, _finite(logprob))  # k = 0: the chosen token only, as vLLM
            logprobs.append(_finite(logprob))
            top.append(entry)
        return {"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": top,
                "text_offset": offsets}  # fmt: skip


def _none(generation: Generation) -> list[list]:
    return [[] for _ in generation.token_ids]


def _answer(response: dict[str, Any], body: Any) -> Response:
    """The response as JSON, or with ``stream: true`` as server-sent events."""
    if not body.stream:
        return _json(response)
    include_usage = bool((getattr(body, "stream_options", None) or {}).get("include_usage"))
    events = [json.dumps(chunk) for chunk in stream_chunks(response, include_usage)]
    payload = "".join(f"data: {event}\n\n" for event in [*events, "[DONE]"])
    return Response(payload, mimetype="text/event-stream")


def stream_chunks(response: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A finished response as the chunks a streaming client reads (see the module docstring)."""
    chat = response["object"] == "chat.completion"
    head = {k: response[k] for k in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk" if chat else "text_completion"
    chunks = []

    def chunk(**choice: Any) -> None:
        chunks.append({**head, "choices": [{"logprobs": None, "finish_reason": None, **choice}]})

    for choice in response["choices"]:
        index, finish = choice["index"], choice["finish_reason"]
        if chat:
            chunk(index=index, delta={"role": "assistant", "content": ""})
            content = {"content": choice["message"]["content"]}
            chunk(index=index, delta=content, logprobs=choice["logprobs"])
            chunk(index=index, delta={}, finish_reason=finish)
        else:
            chunk(**{**choice, "finish_reason": None})
            chunk(index=index, text="", finish_reason=finish)
    if include_usage:
        chunks.append({**head, "choices": [], "usage": response["usage"]})
    return chunks


def _read_json() -> Any:
    raw = request.get_data(cache=False)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, f"the request body is not valid JSON: {error}") from None


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _finite(logprob: float) -> float:
    """JSON has no -Infinity: a token the model rules out gets -9999.0 (as vLLM reports it)."""
    return max(logprob, -9999.0)


def _usage(prompt_tokens: int, generations: list[Generation]) -> dict[str, int]:
    completion = sum(len(g.token_ids) for g in generations)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }
