"""A tiny Sphinx extension of the book: launch buttons open the notebook, not the executed page.

The result pages are notebooks that ``dissim book run`` writes into ``book/results/`` (ignored by
git). The theme builds its Binder and Colab links from the page's path, which does not exist in
the repository; this rewrites them to the parameterised source ``notebooks/<name>.ipynb``. The
repository URL and branch still come from ``_config.yml`` (``repository:``), their one source.
"""

from __future__ import annotations

import re

_PAGE = re.compile(r"book/results/(?:[^/?#]+/)?([A-Za-z0-9_]+)\.ipynb")


def source_notebook_url(url: str) -> str:
    """``.../book/results/<dataset>/table1.ipynb`` -> ``.../notebooks/table1.ipynb``."""
    return _PAGE.sub(r"notebooks/\1.ipynb", url)


def _rewrite(buttons: list) -> None:
    for button in buttons:
        if isinstance(button, dict):
            if isinstance(button.get("url"), str):
                button["url"] = source_notebook_url(button["url"])
            _rewrite(button.get("buttons", []))


def _on_page(app, pagename, templatename, context, doctree) -> None:
    _rewrite(context.get("header_buttons", []))


def setup(app):
    # after sphinx-book-theme's add_launch_buttons (default priority 500)
    app.connect("html-page-context", _on_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
