"""The screens of the Textual workplace, one per module, each with its ``.tcss``."""
