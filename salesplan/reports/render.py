"""Leadership HTML: executed notebook -> report without code, answer first; index page."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Mapping, Sequence
from importlib import resources as _resources
from pathlib import Path
from typing import Any

from salesplan.reports.deferred_imports import defer_iri_grammar

defer_iri_grammar()  # before nbformat: its jsonschema would compile an unused IRI grammar (~1.6 s)

import nbformat  # noqa: E402

from salesplan.reports.layout import LayoutParams, arrange_report  # noqa: E402
from salesplan.reports.publish import HEADLINES_TAG  # noqa: E402

__all__ = ["TEMPLATE_DIR", "export_html", "localize_notebook", "notebook_title", "prepare_for_report",
           "render_index"]

TEMPLATE_DIR = Path(str(_resources.files("salesplan.reports") / "templates"))
#: Cells with one of these tags are left out of the leadership report.
HIDDEN_TAGS = {"parameters", "injected-parameters", "hide-report", "papermill-error-cell-tag"}


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def notebook_title(nb, default: str = "") -> str:
    """The first level-1 heading of the first markdown cell (else ``default``)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+?)\s*$", cell.source, flags=re.MULTILINE)
            if m:
                return re.sub(r"[*_`]", "", m.group(1))
            break
    return default


def prepare_for_report(nb):
    """A copy of ``nb`` arranged for leadership.

    * cells tagged ``parameters``/``injected-parameters``/``hide-report`` are dropped;
    * cells tagged ``headlines`` move right after the first markdown cell (the title
      and question), so the answer and headline numbers come first;
    * stderr streams (warnings) and execution counts are removed.
    """
    nb = copy.deepcopy(nb)
    cells = [c for c in nb.cells if not (_tags(c) & HIDDEN_TAGS)]
    head = [c for c in cells if HEADLINES_TAG in _tags(c)]
    rest = [c for c in cells if HEADLINES_TAG not in _tags(c)]
    first_md = next((i for i, c in enumerate(rest) if c.cell_type == "markdown"), None)
    at = 0 if first_md is None or first_md > 0 else 1
    cells = rest[:at] + head + rest[at:]
    for c in cells:
        if c.cell_type == "code":
            c.execution_count = None
            c.outputs = [
                o for o in c.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    nb.cells = cells
    return nb


def localize_notebook(nb, notebooks_dir: str | Path | None, name: str, lang: str | None = None):
    """A copy of ``nb`` whose markdown cells are in ``lang`` (default: the report language).

    Each markdown cell is replaced by its translation in
    ``<notebooks_dir>/i18n/<lang>/<name>.yaml`` (keyed by cell id, used only while the
    English text it was made from is unchanged); a cell without one stays English.
    English, or no ``notebooks_dir``: ``nb`` itself.
    """
    from salesplan.reports.i18n import get_language, markdown_translations, translated_markdown

    lang = lang or get_language()
    if lang == "en" or notebooks_dir is None:
        return nb
    entries = markdown_translations(notebooks_dir, name, lang)
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = translated_markdown(cell, entries)
            if text is not None:
                cell.source = text
    return nb


_LOCAL = threading.local()


def _exporter():
    """This thread's leadership exporter (``templates/leadership.html.j2``, no code, images
    embedded), made once: its template is compiled once per thread, not per report.

    nbconvert's ``HTMLExporter`` parses its page with BeautifulSoup after the template (to
    add ``alt`` texts and ``tabindex``) and :func:`~salesplan.reports.layout.arrange_report`
    parsed it again; this exporter returns the template's page and ``arrange_report(...,
    exported=True)`` does both in one parse."""
    exporter = getattr(_LOCAL, "exporter", None)
    if exporter is None:
        exporter = _LOCAL.exporter = _leadership_exporter_class()(
            template_name="lab",
            template_file=str(TEMPLATE_DIR / "leadership.html.j2"),
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            embed_images=True,
            optimistic_validation=True,  # validate once after the preprocessors, not after each
        )
        exporter.extra_template_paths = [str(TEMPLATE_DIR), *exporter.extra_template_paths]
    return exporter


def _leadership_exporter_class():
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class LeadershipExporter(HTMLExporter):
        """``HTMLExporter`` whose ``from_notebook_node`` stops after the template (its
        BeautifulSoup pass is :func:`~salesplan.reports.layout.accessible_cells`)."""

        def from_notebook_node(self, nb, resources=None, **kw):
            # = HTMLExporter.from_notebook_node (nbconvert 7) up to its BeautifulSoup pass
            self._nb_metadata.clear()  # the notebooks before this one (widget states)
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight_code = self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
            resources = self._init_resources(resources)
            filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                     resources=resources)
            self.register_filter("highlight_code", highlight_code)
            self.register_filter("filter_data_type", filter_data_type)
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    return LeadershipExporter


def warm_up() -> None:
    """Import the exporter's libraries and compile its template in this thread (the
    runner's render thread, while the first notebook runs): the first report then costs
    what the others do.  Writes nothing."""
    import nbformat.v4 as v4

    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# warm-up"),
                                v4.new_code_cell(outputs=[v4.new_output(
                                    "display_data", {"text/html": "<table class=\"dataframe\"><tr><td>1</td></tr></table>"})])])
    body, _ = _exporter().from_notebook_node(prepare_for_report(nb), resources={"metadata": {"name": "warm-up"}})
    arrange_report(body, exported=True)


def export_html(
    nb_or_path: Any,
    out_path: str | Path,
    *,
    index_href: str | None = "index.html",
    caption: str | None = None,
    layout: LayoutParams | None = None,
) -> Path:
    """Write the leadership HTML of an executed notebook.

    Parameters
    ----------
    nb_or_path : NotebookNode or path
    out_path : path of the ``.html`` file to write
    index_href : link back to the run's index page (``None``: no link)
    caption : text in the top bar, e.g. ``"2027Q1 · run 2027Q1-20270105-101500"``
    layout : how tables and contents are arranged (:func:`~salesplan.reports.layout.arrange_report`;
        default :class:`~salesplan.reports.layout.LayoutParams`)
    """
    nb = nb_or_path
    if isinstance(nb_or_path, (str, Path)):
        nb = nbformat.read(str(nb_or_path), as_version=4)
    nb = prepare_for_report(nb)
    title = notebook_title(nb, Path(out_path).stem)
    nb.metadata["title"] = title
    body, _ = _exporter().from_notebook_node(
        nb,
        resources={
            "metadata": {"name": title},
            "salesplan_index": index_href,
            "salesplan_caption": caption,
        },
    )
    body = arrange_report(body, layout, exported=True)  # nbconvert's own pass in the same parse
    from salesplan.reports.i18n import translate_html

    body = translate_html(body)  # the report language; English: unchanged
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def render_index(
    out_path: str | Path,
    *,
    run_id: str,
    period: str,
    source: str,
    reports: Sequence[dict],
    workbook: str | None = None,
    finished: str | None = None,
    changed_parameters: Mapping[str, str] | None = None,
    summary: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``index.html``: one card per report with its answer and headline figures.

    ``reports`` items: ``name, title, html, notebook, seconds, headlines`` (the record of
    :func:`~salesplan.reports.publish.publish_headlines` or ``None``) and optionally
    ``rank``: cards are ordered by rank (the notebook metadata ``salesplan.index_rank``;
    the plan's answers first), unranked ones after them in run order; ``carried_from``
    (a run id) marks a report carried over from an earlier run, ``stale`` one whose
    inputs were re-run since.  ``changed_parameters`` (name -> shown value) are listed in
    a banner: the parameters that differ from the notebooks' defaults.  ``summary``
    (:meth:`salesplan.reports.summary.SummaryFiles.index_entry`: ``html``, ``pdf``,
    ``text``, ``alerts``; or ``skipped``: why there is none) opens the page, before the
    cards.  ``source`` must already be redacted.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=False,  # escaping is explicit in the template (| e)
        keep_trailing_newline=True,
    )
    page = env.get_template("index.html.j2").render(
        run_id=run_id,
        period=period,
        source=source,
        reports=sorted(reports, key=lambda r: (r.get("rank") is None, r.get("rank") or 0)),
        workbook=workbook,
        finished=finished,
        changed_parameters=dict(changed_parameters or {}),
        summary=dict(summary) if summary else None,
        css=(TEMPLATE_DIR / "salesplan.css").read_text("utf-8"),
    )
    out = Path(out_path)
    from salesplan.reports.i18n import translate_html

    out.write_text(translate_html(page), encoding="utf-8")
    return out

