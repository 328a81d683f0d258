"""SFT data (QA files, corpus-derived, RAFT) and (Q)LoRA training of Qwen3."""
