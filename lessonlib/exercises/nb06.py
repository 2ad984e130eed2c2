"""Checks for 06_structured_outputs, offline: 06.1 and 06.2 validate JSON written here, 06.3 gets ChatCompletions
shaped like the notebook's JSON-mode answers."""

from __future__ import annotations

import inspect
import json
from typing import Any

from lessonlib.exercises import NotYet, an, call, compare, exercise
from lessonlib.exercises.fixtures import completion

JOB_JSON = """{
  "title": "Senior Python Developer",
  "level": "senior",
  "remote": true,
  "salary": {"min": 140000, "max": 175000, "currency": "USD"},
  "skills": ["python", "fastapi", "postgresql", "aws"]
}"""


def _first_error(err: Any) -> str:
    """Where and what the first error of a pydantic ValidationError is."""
    first = err.errors()[0]
    return f"{'.'.join(str(p) for p in first.get('loc', ())) or '(top level)'}: {first.get('msg')}"


def _model(model: Any, name: str) -> None:
    from pydantic import BaseModel

    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        raise NotYet(f"pass the class itself (check(..., {name})), a subclass of pydantic.BaseModel.")


def _name(model: Any, key: str) -> str | None:
    """The field of a model class that reads a JSON key: the field of that name, or one with that alias."""
    fields = model.model_fields
    return key if key in fields else next((n for n, f in fields.items() if key in (f.alias, f.validation_alias)), None)


def _field(obj: Any, key: str) -> Any:
    """A model instance's value for a JSON key (a field `minimum: int = Field(alias="min")` reads "min")."""
    return getattr(obj, _name(type(obj), key) or key, None)


def _rejects(model: Any, data: dict[str, Any]) -> bool:
    """Whether the model refuses this data as JSON, as the API sends it (in strict mode a Python str is no Enum)."""
    from pydantic import ValidationError

    try:
        model.model_validate_json(json.dumps(data))
    except ValidationError:
        return True
    return False


@exercise("06.1", title="a Pydantic model for a given JSON",
          idea="One annotated field per key of JOB_JSON; a nested object gets its own model, and a fixed set of "
               "strings has its own type in typing.",
          hint="Write two classes: Salary(BaseModel) with min: int, max: int, currency: str; and "
               "JobPosting(BaseModel) with title: str, level: Literal['junior', 'mid', 'senior'], remote: bool, "
               "salary: Salary, skills: list[str]. No defaults, so every key is required. Try "
               "JobPosting.model_validate_json(JOB_JSON) yourself before you check.")
def _(model: Any) -> str:
    from pydantic import BaseModel, ValidationError

    _model(model, "JobPosting")
    if not model.model_fields:
        raise NotYet(f"{model.__name__} has no fields yet: add one annotated field per key of JOB_JSON.")
    try:
        posting = model.model_validate_json(JOB_JSON)
    except ValidationError as err:
        raise NotYet(f"{model.__name__} does not accept JOB_JSON; pydantic says {_first_error(err)}.") from None
    data = json.loads(JOB_JSON)
    missing = [key for key in data if _name(model, key) is None]
    if missing:
        raise NotYet(f"JOB_JSON's {', '.join(missing)} is not a field of your model, so pydantic drops it; add it.")
    salary = _field(posting, "salary")
    if not isinstance(salary, BaseModel):
        raise NotYet(f"salary came back as {an(type(salary).__name__)}; give it its own model "
                     "(class Salary(BaseModel)) so posting.salary.min is typed and checked.")
    for key in ("min", "max"):
        kind = type(_field(salary, key))
        if kind is not int:
            raise NotYet(f"salary.{key} should be an int (whole dollars), not {kind.__name__}.")
    if _field(posting, "remote") is not True:
        raise NotYet("remote should be a bool: annotate it `remote: bool`.")
    skills = _field(posting, "skills")
    if not (isinstance(skills, (list, tuple)) and all(isinstance(s, str) for s in skills)):
        raise NotYet("skills should be a list of strings: `skills: list[str]`.")
    if not _rejects(model, {**data, "level": "wizard"}):
        raise NotYet("your model accepted level='wizard'. Only junior, mid and senior are allowed: "
                     "annotate it with typing.Literal['junior', 'mid', 'senior'].")
    pay = data["salary"]  # its keys are required too
    cut = [(key, {k: v for k, v in data.items() if k != key}) for key in data]
    cut += [(f"salary.{key}", {**data, "salary": {k: v for k, v in pay.items() if k != key}}) for key in pay]
    for key, posting_without in cut:
        if not _rejects(model, posting_without):
            raise NotYet(f"your model accepted a posting without {key!r}: drop the default so every key is required.")
    if not _rejects(model, {**data, "salary": {**pay, "min": "a lot"}}):
        raise NotYet("your model accepted salary.min='a lot'; make min and max ints.")
    return ("that class can go straight into chat.completions.parse(response_format=...) or "
            "messages.parse(output_format=...).")


GOOD_SKILLS = {"name": "Maya Patel", "age": 38, "skills": ["python", "django", "postgresql"], "years_experience": 14}
_RETURN = "your validator must return the value: end it with `return skills` (pydantic keeps what it returns)."


@exercise("06.2", title="a field validator that rejects a bad answer",
          idea="A field validator gets the value, raises ValueError to refuse it, and returns it to accept it. "
               "'Lowercase' means the whole tag, not only its first letter.",
          hint="Inside the class: @field_validator('skills') on a @classmethod `def check(cls, skills)`. "
               "If not skills: raise ValueError('skills must not be empty'). For each skill that is not "
               "skill.lower(), raise ValueError naming it, e.g. f'skill {skill!r} must be lowercase'. "
               "Return skills unchanged when all is well.")
def _(model: Any) -> str:
    from pydantic import ValidationError

    _model(model, "TaggedDeveloper")
    for field in GOOD_SKILLS:  # Developer's four fields
        if field not in model.model_fields:
            raise NotYet(f"{model.__name__} has no field {field!r}: subclass Developer so it keeps all four fields.")
    try:
        good = model.model_validate(GOOD_SKILLS)
    except ValidationError as err:
        if err.errors()[0].get("input", ...) is None:
            raise NotYet(_RETURN) from None
        raise NotYet(f"your validator rejected a good answer (skills {GOOD_SKILLS['skills']}): "
                     f"{_first_error(err)}.") from None
    if not isinstance(good.skills, (list, tuple)):  # None, or a True that meant "valid"
        raise NotYet(_RETURN)
    if list(good.skills) != GOOD_SKILLS["skills"]:
        raise NotYet("your validator changed good skills; return them unchanged.")
    if not _rejects(model, {**GOOD_SKILLS, "skills": []}):
        raise NotYet("your model accepted skills=[]: raise ValueError in a @field_validator('skills') when the list "
                     "is empty.")
    try:
        result = model.model_validate({**GOOD_SKILLS, "skills": ["Python", "django"]})
    except ValidationError as err:
        if "Python" not in str(err).split("[type=")[0]:
            raise NotYet("you rejected ['Python', 'django'], but the error message does not say which skill is wrong. "
                         "That message is what instructor sends back to the model: name the offending skill.") from None
    else:
        if list(result.skills) == ["python", "django"]:
            raise NotYet("your validator lowercased 'Python' instead of rejecting it. That is often the better choice "
                         "in real code (no extra request), but this exercise asks you to reject it with a ValueError.")
        raise NotYet("your model accepted skills=['Python', 'django']: raise ValueError for a skill that is not "
                     "lowercase.")
    if not _rejects(model, {**GOOD_SKILLS, "skills": ["python", "fastAPI"]}):
        raise NotYet("your model accepted skills=['python', 'fastAPI']: a capital letter can be anywhere in a tag. "
                     "Compare each skill with skill.lower() rather than looking at its first letter.")
    return "instructor would send that message back to the model, which then knows exactly what to fix."


COMPLETE = '{\n  "name": "Maya Patel",\n  "age": 38,\n  "skills": ["Python", "Django", "PostgreSQL"]\n}'
CUT_OFF = ('{\n  "title": "Senior Python Developer",\n  "name": "Maya Patel",\n  "age": 38,\n  "skills": [\n'
           '    "Python 3')


@exercise("06.3", title="parse a JSON-mode answer safely",
          idea="Before parsing, ask whether the model finished and whether there is any text; after parsing, "
               "ask whether you got an object.",
          hint="Take choice = completion.choices[0]. Return None if choice.finish_reason != 'stop' or "
               "choice.message.content is None. Otherwise try json.loads(content) and return None on "
               "json.JSONDecodeError; return the result only if isinstance(result, dict).")
def _(fn: Any) -> str:
    cases = [
        ("a complete JSON answer", completion(COMPLETE), json.loads(COMPLETE)),
        ("an answer cut off by max_completion_tokens (finish_reason 'length')", completion(CUT_OFF, finish="length"),
         None),
        ("a refusal (content is None, message.refusal is set)",
         completion(None, refusal="I'm sorry, but I can't help with that."), None),
        ("valid JSON that is not an object (a list)", completion('["Python", "Django"]'), None),
        ("a complete answer with leading whitespace", completion("\n  " + COMPLETE), json.loads(COMPLETE)),
        ("a finished answer that is not valid JSON (a trailing comma)",
         completion('{"name": "Maya Patel", "age": 38,}'), None),
    ]
    for label, case, expected in cases:
        should = "None instead, so the caller can fall back" if expected is None else "the parsed dict"
        out = call(fn, case, none_ok=True, raises={Exception: f"on {label} your function raised "
                   f"{{exc.__class__.__name__}}: {{exc}}. It should return {should}."})
        wrong = (f"{type(out).__name__} {str(out)[:60]!r}; expected None." if expected is None
                 else f"{str(out)[:80]!r}; expected json.loads of the content, a dict.")
        compare(out, expected, mistakes=[(None, f"on {label} it returned None; expected the parsed dict.")],
                otherwise=f"on {label} it returned {wrong}")
    return "a None now means 'fall back' (retry, use a default, or log and skip) instead of a crash."
