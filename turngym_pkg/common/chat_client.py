"""One client for OpenAI-compatible chat endpoints (vLLM, SGLang, llama.cpp, TGI, hosted APIs),
shared by the LLM judges and the LLM user simulators of dialogue environments.

It wraps the official ``openai`` client: retries, timeouts and the error types are its own.
:meth:`ChatClient.check_reachable` lets a run fail at start when the server is down, rather than
after its first evaluation.

Example:
    >>> client = ChatClient("http://localhost:8000/v1", "Qwen/Qwen2.5-7B-Instruct")
    >>> client.check_reachable()
    >>> reply = client.chat([{"role": "user", "content": "Hi"}], max_tokens=8, temperature=0)
    >>> reply["choices"][0]["message"]["content"]
"""

from __future__ import annotations

from typing import Any


class ChatClient:
    """Chat completions from ``{base_url}/chat/completions`` for one ``model``.

    Args:
        base_url: the API root, e.g. ``http://localhost:8000/v1``.
        model: the model name the server expects.
        api_key: sent as a bearer token (a local server without keys accepts any).
        timeout: seconds per request.
        max_retries: retries of a failed request (connection errors, 429, 5xx).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
    ):
        from openai import OpenAI

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self._client = OpenAI(
            base_url=self.base_url,
            api_key=api_key or "no-key",
            timeout=timeout,
            max_retries=max_retries,
        )

    def chat(self, messages: list[dict[str, str]], **params: Any) -> dict[str, Any]:
        """One chat completion as a plain dict (the response's JSON). ``params`` are the
        request's fields (``max_tokens``, ``temperature``, ``logprobs``, ``top_logprobs``, ...);
        fields the OpenAI API does not define go in ``extra_body`` (e.g. vLLM's
        ``{"guided_choice": ["A", "B"]}``)."""
        response = self._client.chat.completions.create(
            model=self.model, messages=messages, **params
        )
        return response.model_dump()

    def check_reachable(self, timeout: float = 10.0) -> None:
        """Raise ``ConnectionError`` (naming the URL and the cause) unless a server answers at
        ``{base_url}/models``; any HTTP answer, an error status included, means one is there."""
        self.list_models(timeout)

    def list_models(self, timeout: float = 10.0) -> list[str]:
        """The model ids ``{base_url}/models`` lists (empty when the server answers it with an
        error status); ``ConnectionError``, naming the URL and the cause, when none answers."""
        import openai

        try:
            listing = self._client.with_options(timeout=timeout, max_retries=0).models.list()
            return [model.id for model in listing]
        except openai.APIStatusError:
            return []
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error
            raise ConnectionError(
                f"the endpoint {self.base_url}/models is not reachable: {cause}"
            ) from None
