"""Feedback for students: per part score and the grader's messages, flags in plain words.

Built only from what is safe to show: part names, scores, the verdict's
student-facing messages (capped). Never test cell source, never outputs of
hidden tests, never tracebacks: in-kernel results are shown as passed/failed.
"""
from __future__ import annotations

import functools
import html
import re
from pathlib import Path

from autograder.pipeline import flags as F
from autograder.pipeline.course import Course

MAX_MESSAGE_CHARS = 800
MAX_MESSAGES_PER_PART = 8

STYLE = """body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
.passed{color:#17672c}.failed,.error,.timeout,.memory,.crashed,.missing{color:#a1261b}.manual{color:#555}
.flags li{margin:.3rem 0}pre{white-space:pre-wrap;margin:.2rem 0;font-size:.9em}"""


def _cap(text: str) -> str:
    text = str(text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + " …"


LEAD_IN = re.compile(r"\*\*((?:Exercise|Question|Explore|Part|Task)\b[^*]*)\*\*")
POINTS = re.compile(r"\s*\([^()]*\bpoints?\)", re.I)


def source_cells(course: Course, assignment: str) -> dict[str, dict]:
    """grade id -> {title, written, order} from the source notebook. A part is named by what students
    see above it (the section heading, or a bold "Exercise 2 …" lead-in), not by its grade id; parts
    under one heading get their own name added. A grade cell that is also a solution cell is a
    written answer."""
    import nbformat
    out: dict[str, dict] = {}
    for path in sorted(course.source_dir(assignment).glob("*.ipynb")):
        context = ""
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "markdown" and not meta.get("solution"):
                for line in cell.source.splitlines():
                    if line.startswith("#"):
                        context = line.lstrip("#").strip()
                lead = LEAD_IN.match(cell.source.strip())
                if lead:
                    context = POINTS.sub("", lead[1]).strip().rstrip(".:")
            if meta.get("grade") and meta.get("grade_id"):
                gid, written = meta["grade_id"], bool(meta.get("solution"))
                own = "written answer" if written else gid.removesuffix("-tests").replace("-", "_")
                out[gid] = {"context": context, "own": own, "written": written, "order": len(out)}
    shared = {}
    for info in out.values():
        shared[info["context"]] = shared.get(info["context"], 0) + 1
    for _gid, info in out.items():
        if not info["context"]:
            info["title"] = info["own"]
        elif shared[info["context"]] > 1:
            info["title"] = f"{info['context']}: {info['own']}"
        else:
            info["title"] = info["context"]
    return out


def gradebook_parts(course: Course, student: str, assignment: str) -> list[dict]:
    """Every grade cell as the gradebook has it NOW: formgrader's manual scores, overrides of
    autograded parts and comments included."""
    from nbgrader.api import Gradebook
    out = []
    with Gradebook(course.db_url) as gb:
        sub = gb.find_submission(assignment, student)
        for nb in sub.notebooks:
            comments = {c.name: c.manual_comment for c in nb.comments if c.manual_comment}
            for g in nb.grades:
                out.append({"cell_id": g.name, "max_score": float(g.max_score or 0),
                            "auto_score": g.auto_score, "manual_score": g.manual_score,
                            "extra_credit": g.extra_credit or 0.0, "needs_manual_grade": bool(g.needs_manual_grade),
                            "comment": comments.get(g.name, "")})
    return out


def part_rows(state: dict, grades: list[dict] | None = None, cells: dict[str, dict] | None = None) -> list[dict]:
    """One row per grade cell, scored as the gradebook scores it (so the rows add up to the total),
    explained by the verdict's messages where the part was autograded."""
    cells = cells or {}
    verdict = {p["cell_id"]: p for p in state.get("verdict_parts", [])}
    if grades is None:  # no gradebook: what autograde recorded
        grades = [{"cell_id": g["cell_id"], "max_score": g["max_score"], "auto_score": g["score"],
                   "manual_score": None, "extra_credit": 0.0, "needs_manual_grade": g.get("needs_manual_grade"),
                   "comment": ""} for g in state.get("parts", [])]
    out = []
    for g in sorted(grades, key=lambda g: cells.get(g["cell_id"], {}).get("order", 1e9)):
        cell = cells.get(g["cell_id"], {})
        v = verdict.get(g["cell_id"])
        written = cell.get("written", v is None and g["auto_score"] is None)
        messages = list(v.get("messages", [])) if v else []
        auto = v["score"] if v else g["auto_score"]
        top = g["max_score"]
        if g["manual_score"] is not None:
            score = float(g["manual_score"]) + float(g["extra_credit"])
            if written:
                status = "graded by your instructor"
            else:
                status = "passed" if score >= top else "failed"
                if auto is None or abs(float(auto) - score) > 1e-9:
                    status = "score changed by your instructor"
                    messages.append(f"The grader gave {float(auto or 0):g} / {top:g}; your instructor set "
                                    f"{score:g} / {top:g}.")
        elif g["needs_manual_grade"]:
            score, status = None, "waiting for your instructor"
            messages.append("Not graded yet: your instructor grades this by hand; the total does not count it yet.")
        elif written:
            score, status = float(g["auto_score"] or 0), "not answered"
            messages.append("No answer was written here, so it scores 0.")
        else:
            score = float(auto or 0)
            status = v.get("status", "") if v else ("passed" if score >= top else "failed")
        if g.get("comment"):
            messages.append(f"Comment from your instructor: {g['comment']}")
        out.append({"cell_id": g["cell_id"], "part": cell.get("title") or (v or {}).get("part") or g["cell_id"],
                    "score": score, "max_score": top, "status": status, "messages": messages})
    return out


def review_notes(flags: list[str], rows: list[dict]) -> list[str]:
    """'review: … on <cell>' names the part the instructor will look at."""
    titles = {r["cell_id"]: r["part"] for r in rows}
    out = []
    for flag in flags:
        if F.kind(flag) == F.REVIEW:
            cell = flag.rsplit(" ", 1)[-1]
            out.append(f"Your instructor will review one part by hand: {titles.get(cell, cell)}.")
        else:
            out.append(F.student_meaning(flag))
    return out


def render(state: dict, row: dict, grades: list[dict] | None = None, cells: dict[str, dict] | None = None) -> str:
    e = html.escape
    rows = part_rows(state, grades, cells)
    parts = []
    for p in rows:
        score = "–" if p["score"] is None else f"{p['score']:g}"
        css = p["status"] if p["status"] in ("passed", "failed") else "manual"
        messages = "".join(f"<pre>{e(_cap(m))}</pre>" for m in p["messages"][:MAX_MESSAGES_PER_PART])
        parts.append(f"<tr><td>{e(str(p['part']))}</td><td>{score} / {p['max_score']:g}</td>"
                     f"<td class='{css}'>{e(p['status'])}</td><td>{messages}</td></tr>")
    notes = [n for n in dict.fromkeys(review_notes(row["flags"], rows)) if n]
    flag_html = ("<h2>Notes</h2><ul class='flags'>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>") if notes else ""
    penalty = (f"<p>Late penalty: −{row['late_penalty']:g} (before it: {row['raw_score']:g}).</p>"
               if row.get("late_penalty") else "")
    pending = sum(p["max_score"] for p in rows if p["score"] is None)
    provisional = (f"<p class='manual'>Provisional: {pending:g} points are still to be graded by your instructor.</p>"
                   if pending else "")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Feedback: {e(row['assignment'])}</title>"
            f"<style>{STYLE}</style></head><body><h1>{e(row['assignment'])}: {row['score']:g} / {row['max_score']:g}</h1>"
            f"<p>Student: {e(row['student'])}</p>{provisional}{penalty}{flag_html}"
            f"<h2>Parts</h2><table><tr><th>part</th><th>score</th><th>result</th><th>what the grader saw</th></tr>"
            f"{''.join(parts)}</table></body></html>\n")


def write(course: Course, states: dict[str, dict], rows: list[dict]) -> list[Path]:
    """Rendered from the gradebook as it is now, so running `feedback` again after grading in
    formgrader picks up manual scores, overrides and comments."""
    from nbgrader.api import MissingEntry
    written = []
    cells_of: dict[str, dict] = {}
    for row in rows:
        state = states[row["student"]]
        if row["assignment"] not in cells_of:
            cells_of[row["assignment"]] = source_cells(course, row["assignment"])
        try:
            grades = gradebook_parts(course, row["student"], row["assignment"])
        except MissingEntry:
            grades = None
        folder = course.feedback(row["student"], row["assignment"])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "feedback.html"
        text = render(state, row, grades, cells_of[row["assignment"]])
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def page_for(course: Course, student: str, assignment: str) -> str:
    """The kit's feedback page for one student, as `feedback` would write it now."""
    from nbgrader.api import MissingEntry

    from autograder.pipeline import report
    from autograder.pipeline.course import read_json
    from autograder.pipeline.export import LatePolicy, apply_policy, config_policy
    state = read_json(course.state_file(student, assignment)) or {"flags": []}
    states = {student: state}
    lateness = apply_policy(course, assignment, LatePolicy.parse(None, None, config=config_policy()), states)
    [row] = report.rows(course, assignment, states, lateness)
    try:
        grades = gradebook_parts(course, student, assignment)
    except MissingEntry:
        grades = None
    return render(state, row, grades, source_cells(course, assignment))


@functools.cache
def _nbgrader_preprocessor():
    from nbconvert.preprocessors import Preprocessor

    class KitFeedback(Preprocessor):
        """nbgrader's GenerateFeedback (formgrader's "Generate Feedback") renders the autograded
        notebook, hidden tests and their tracebacks included. Configured in nbgrader_config.py as
        its only content preprocessor, this replaces the notebook by the kit's own feedback page,
        so those buttons cannot leak hidden tests and give students the same page as `feedback`."""

        enabled = True  # nbconvert skips preprocessors that are not enabled

        def preprocess(self, nb, resources):
            import nbformat
            info = resources["nbgrader"]
            root = Path(info["db_url"].removeprefix("sqlite:///")).parent
            # nbgrader_config.py keeps source/ beside the course folder (repo root: source/ and course/)
            page = page_for(Course.at(root, root.parent / "source"), info["student"], info["assignment"])
            body = page[page.index("<body>") + len("<body>"):page.index("</body>")]
            nb.cells = [nbformat.v4.new_raw_cell(f"<style>{STYLE}</style>{body}",
                                                 metadata={"raw_mimetype": "text/html"})]
            return nb, resources

    return KitFeedback


def __getattr__(name: str):
    # nbconvert is imported only when nbgrader asks for the preprocessor, not by every feedback run.
    if name == "KitFeedback":
        return _nbgrader_preprocessor()
    raise AttributeError(name)
