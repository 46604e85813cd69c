"""Training-data snapshots, trainers, evaluation, MLflow registration and promotion (nightly retraining issue).

Empty until then: the cold-start labeler in ``labeling.retrieval`` needs no training.
"""
