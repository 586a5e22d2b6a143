"""The HTML of every web page, public or the editors', comes from the Jinja templates beside this module.

Each language has its own environment with its catalog installed (`_()` in a template), so that pages in
different languages can be rendered at once by the pool's threads.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from digest.i18n import catalog_language, install


@functools.lru_cache(maxsize=8)
def environment(language: str = "en") -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    install(env, language)
    return env


def render(template: str, language: str = "en", **context: Any) -> str:
    """A page in `language` (its catalog's: `es-AR` is rendered with Spanish)."""
    return environment(catalog_language(language)).get_template(template).render(context)
