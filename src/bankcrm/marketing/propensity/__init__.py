"""Propensity models: who is likely to take a product.

Training (:mod:`.training`) reads any tabular CSV with a yes/no outcome, leaves out the
columns known only after the outcome (:mod:`.leakage`), derives a few features from the
columns themselves (:mod:`.derive`), cross-validates (:mod:`.evaluation`) and registers the
model in the credit-risk model registry (:mod:`.registry`, purpose *propensity*).
:func:`.scoring.propensity_predict` gives the probabilities of any rows.
"""
