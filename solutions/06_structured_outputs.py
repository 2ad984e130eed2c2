"""Solutions to the exercises of notebooks/06_structured_outputs.ipynb (checked by tests/test_exercises.py)."""

import json
from typing import Literal

from pydantic import BaseModel, field_validator


# 06.1: a model for the job-posting JSON (lessonlib.exercises.nb06.JOB_JSON).
class Salary(BaseModel):
    min: int
    max: int
    currency: str


class JobPosting(BaseModel):
    title: str
    level: Literal["junior", "mid", "senior"]
    remote: bool
    salary: Salary
    skills: list[str]


# 06.2: the lesson's Developer, plus a validator whose message tells the model what to fix.
class Developer(BaseModel):
    name: str
    age: int
    skills: list[str]
    years_experience: int


class TaggedDeveloper(Developer):
    @field_validator("skills")
    @classmethod
    def skills_are_lowercase_tags(cls, skills: list[str]) -> list[str]:
        if not skills:
            raise ValueError("skills must not be empty")
        for skill in skills:
            if skill != skill.lower():
                raise ValueError(f"skill {skill!r} must be lowercase, e.g. {skill.lower()!r}")
        return skills


# 06.3: a JSON-mode answer as a dict, or None when there is nothing trustworthy to parse.
def parse_json_reply(completion):
    choice = completion.choices[0]
    content = choice.message.content
    if choice.finish_reason != "stop" or content is None:
        return None  # cut off, filtered or refused: the text is not a whole JSON object
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


ANSWERS = {
    "06.1": JobPosting,
    "06.2": TaggedDeveloper,
    "06.3": parse_json_reply,
}
