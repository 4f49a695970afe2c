"""Prizes after issuance, pure: which prizes a batch's `prize_claimed` events claim
(`claims.py`). No I/O; `store/prizes.py` loads and saves the rows, `worker/prizes.py`
runs the rule."""
