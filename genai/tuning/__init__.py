"""Fine-tuning the embedded model for the one task: its corpus, LoRA training and adapters."""
