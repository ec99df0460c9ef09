"""Fixtures shared by the algorithm tests."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


@pytest.fixture()
def policy(tiny_model_dir):
    """A fresh (model, tokenizer) of the session's tiny model, left-padded, in eval mode."""
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.padding_side = "left"
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), tokenizer
