"""The one base exception of the labeling package."""


class LabelingError(Exception):
    """Labeling could not proceed."""


class IngestError(LabelingError):
    """A whole input file is unusable (unknown type, undecodable, no records); it goes to quarantine."""
