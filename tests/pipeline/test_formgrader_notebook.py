"""What formgrader shows a person grading: the student's outputs as submitted, the grader's test
runs, and the model answer and rubric next to each written answer (issue 15, item 2)."""
from __future__ import annotations

import copy

import nbformat
import pipeline_corpus as corpus

from autograder.pipeline.autograde import for_formgrader

MODEL = "### BEGIN SOLUTION\n*Model answer.* (-x)(-x) = x x.\n\n*Rubric (2).* 2: the sign rule.\n### END SOLUTION"


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_formgrader_sees_submitted_outputs_grader_tests_and_the_rubric(tmp_path):
    source = nbformat.read(corpus.FIXTURE_SOURCE / corpus.ASSIGNMENT / f"{corpus.ASSIGNMENT}.ipynb", as_version=4)
    _cell(source, "answer-why").source = MODEL
    nbformat.write(source, tmp_path / "source.ipynb")
    submitted = corpus.solved()
    _cell(submitted, "square").outputs = [
        _stream("test accuracy 97.70%\n"),
        nbformat.v4.new_output("display_data", data={"text/html": "<script>steal()</script>", "text/plain": "<curve>"})]
    nbformat.write(submitted, tmp_path / "submitted.ipynb")
    graded = copy.deepcopy(submitted)  # the grader's own (NNKIT_FAST) run of the same cells
    _cell(graded, "square").outputs = [_stream("test accuracy 79.45%\n")]
    _cell(graded, "square-tests").outputs = [_stream("grader's test run\n")]

    shown = for_formgrader(graded, tmp_path / "submitted.ipynb", tmp_path / "source.ipynb")
    nbformat.validate(shown)
    square = _cell(shown, "square")
    assert [o.get("text") for o in square.outputs] == ["test accuracy 97.70%\n", None]
    assert square.outputs[1]["data"] == {"text/plain": "<curve>"}  # the student's HTML never reaches formgrader
    assert _cell(shown, "square-tests").outputs[0]["text"] == "grader's test run\n"
    ids = [c.get("id") for c in shown.cells]
    rubric = shown.cells[ids.index(_cell(shown, "answer-why").get("id")) + 1]
    assert rubric.cell_type == "markdown" and "*Model answer.*" in rubric.source and "Rubric (2)" in rubric.source
    assert "BEGIN SOLUTION" not in rubric.source
    assert [c.get("id") for c in graded.cells] == [c.get("id") for c in submitted.cells]  # the graded copy untouched


def test_a_cell_missing_from_the_submission_is_said_to_be_missing(tmp_path):
    submitted = corpus.solved()
    nbformat.write(submitted, tmp_path / "submitted.ipynb")
    graded = copy.deepcopy(submitted)
    _cell(graded, "add").source += "\n# restored"
    shown = for_formgrader(graded, tmp_path / "submitted.ipynb", tmp_path / "missing-source.ipynb")
    assert _cell(shown, "add").outputs[0]["text"] == "(no such cell in the submission)"
