"""``turngym serve CHECKPOINT``: an OpenAI-compatible server for a local checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def serve(
    checkpoint: Annotated[Path, typer.Argument(help="a save_pretrained folder (or HF name)")],
    port: Annotated[int, typer.Option(help="port to listen on (0: a free one, printed)")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on (127.0.0.1: this machine)")] = (
        "127.0.0.1"
    ),
    served_model_name: Annotated[
        str | None, typer.Option(help="the model id clients send (default: the folder's name)")
    ] = None,
    max_batch_size: Annotated[int, typer.Option(help="prompts per forward pass (1: off)")] = 16,
    batch_wait_ms: Annotated[float, typer.Option(help="wait for more requests after one")] = 5.0,
    max_model_len: Annotated[
        int | None, typer.Option(help="prompt + completion tokens (default: the model's)")
    ] = None,
    dtype: Annotated[str, typer.Option(help="float32, bfloat16, float16")] = "float32",
    max_top_logprobs: Annotated[int, typer.Option(help="alternatives per token allowed")] = 20,
    api_key_env: Annotated[
        str | None, typer.Option(help="environment variable holding a key clients must send")
    ] = None,
) -> None:
    """Serve /v1/chat/completions, /v1/completions and /v1/models for CHECKPOINT."""
    from turngym.agents.serve import ModelServer

    if max_batch_size < 1:
        raise ValueError(f"--max-batch-size must be >= 1, got {max_batch_size}")
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ValueError(f"--api-key-env {api_key_env}: that environment variable is empty")
    server = ModelServer.from_checkpoint(
        checkpoint,
        model_name=served_model_name,
        dtype=dtype,
        host=host,
        port=port,
        max_batch_size=max_batch_size,
        batch_wait_s=batch_wait_ms / 1000,
        max_model_len=max_model_len,
        max_top_logprobs=max_top_logprobs,
        api_key=api_key,
    )
    typer.echo(f"serving {server.model_name!r} at {server.base_url} (Ctrl-C stops)", err=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
