"""lessonlib: the support package of the course "Calling the OpenAI and Anthropic SDKs directly".

It holds what is *not* the lesson: set-up and modes, the replay/record server, token arithmetic, display helpers,
prices, exercise checks and the doctor. SDK calls live in the notebooks.
"""

from .config import Course, LessonSetupError, setup

__all__ = ["Course", "LessonSetupError", "setup"]
__version__ = "0.1.0"
