"""SLA timers on feedback that needs an answer, and 回访 follow-ups after a complaint is resolved."""
