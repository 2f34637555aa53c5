"""LoRA training: the TrainingPlan, the peft/accelerate trainer, kohya-layout export and run status."""
