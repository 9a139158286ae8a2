"""Training credit models from tabular data, without Django models: loading and typing
the learning data (:mod:`.data`), WoE scorecards (:mod:`.scorecard`), the gradient-boosting
challenger (:mod:`.gbm`), cross-validated evaluation (:mod:`.evaluate`) and the whole
training run (:mod:`.train`)."""
