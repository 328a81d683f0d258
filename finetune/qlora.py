"""The QLoRA recipe in one place: the 4-bit NF4 quantisation the adapter is trained on (and that
the hf generator loads the base model with, so inference matches training) and the LoRA config.

    from finetune.qlora import lora_config, nf4_config
    model = AutoModelForCausalLM.from_pretrained(id, quantization_config=nf4_config(), dtype=torch.bfloat16)
    model = get_peft_model(model, lora_config(r=16, alpha=32, dropout=0.05, targets=["q_proj", "v_proj"]))
"""

from __future__ import annotations


def nf4_config():
    """4-bit NormalFloat weights, double quantisation, bf16 compute (the QLoRA paper's setting)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def lora_config(r: int, alpha: int, dropout: float, targets: list[str] | str, rslora: bool = False):
    """LoRA adapters of rank `r` on `targets` of a causal LM (no bias terms)."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, use_rslora=rslora,
                      bias="none", task_type="CAUSAL_LM")
