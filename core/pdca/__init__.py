"""PDCA improvement cycles: tasks, actions, the automatic check, SLA timers and 回访 follow-ups."""
