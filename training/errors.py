"""The one base exception of the training package, and the two outcomes a retry cannot change."""


class TrainingError(Exception):
    """A model could not be trained, evaluated or registered."""


class NothingToDo(TrainingError):
    """Nothing for this step to do (no verified labels yet, a model not asked for, a challenger kept back): not an
    alarm, and nothing downstream of it runs."""


class InvalidTrainingData(TrainingError):
    """The training data failed validation: no retry helps until someone fixes or adds data."""
