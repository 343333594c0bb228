"""What runs on the machine: the job wrapper, the checkpoint helper and the idle agent."""
