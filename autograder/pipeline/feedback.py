"""Feedback for students: per part score and the grader's messages, flags in plain words.

Built only from what is safe to show: part names, scores, the verdict's
student-facing messages (capped). Never test cell source, never outputs of
hidden tests, never tracebacks: in-kernel results are shown as passed/failed.
"""
from __future__ import annotations

import html
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


def part_rows(state: dict) -> list[dict]:
    """Verdict parts where the assignment has them; otherwise the gradebook's grade cells."""
    verdict = {p["cell_id"]: p for p in state.get("verdict_parts", [])}
    out = []
    for grade in state.get("parts", []):
        v = verdict.get(grade["cell_id"])
        if v:
            out.append({"part": v.get("part", grade["cell_id"]), "score": v["score"], "max_score": v["max_score"],
                        "status": v.get("status", ""), "messages": v.get("messages", [])})
        elif grade.get("needs_manual_grade"):
            out.append({"part": grade["cell_id"], "score": None, "max_score": grade["max_score"],
                        "status": "manual", "messages": ["Graded by a person."]})
        else:
            score = grade["score"] or 0
            out.append({"part": grade["cell_id"], "score": score, "max_score": grade["max_score"],
                        "status": "passed" if score >= grade["max_score"] else "failed", "messages": []})
    return out


def render(state: dict, row: dict) -> str:
    e = html.escape
    parts = []
    for p in part_rows(state):
        score = "–" if p["score"] is None else f"{p['score']:g}"
        messages = "".join(f"<pre>{e(_cap(m))}</pre>" for m in p["messages"][:MAX_MESSAGES_PER_PART])
        parts.append(f"<tr><td>{e(str(p['part']))}</td><td>{score} / {p['max_score']:g}</td>"
                     f"<td class='{e(p['status'])}'>{e(p['status'])}</td><td>{messages}</td></tr>")
    notes = [F.student_meaning(f) for f in row["flags"]]
    notes = [n for n in dict.fromkeys(notes) if n]
    flag_html = ("<h2>Notes</h2><ul class='flags'>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>") if notes else ""
    penalty = (f"<p>Late penalty: −{row['late_penalty']:g} (before it: {row['raw_score']:g}).</p>"
               if row.get("late_penalty") else "")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Feedback: {e(row['assignment'])}</title>"
            f"<style>{STYLE}</style></head><body><h1>{e(row['assignment'])}: {row['score']:g} / {row['max_score']:g}</h1>"
            f"<p>Student: {e(row['student'])}</p>{penalty}{flag_html}"
            f"<h2>Parts</h2><table><tr><th>part</th><th>score</th><th>result</th><th>what the grader saw</th></tr>"
            f"{''.join(parts)}</table></body></html>\n")


def write(course: Course, states: dict[str, dict], rows: list[dict]) -> list[Path]:
    written = []
    for row in rows:
        state = states[row["student"]]
        folder = course.feedback(row["student"], row["assignment"])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "feedback.html"
        text = render(state, row)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written
