"""nbctl: GPU notebooks on several clouds, with schedules, idle shutdown and preemption recovery."""
__version__ = "0.1.0"
