"""Alert rules over requests, feedback, budgets and evals; states with de-duplication; notifiers."""
