"""The gradebook on a real PostgreSQL server: the pipeline, and two grade-all runs at once.

The server is Debian's (tests/pipeline/install_postgres.sh, run by `make test`),
started here as the postgres user in a scratch data folder, on 127.0.0.1 and a
free port, and stopped when the tests end.
"""
from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pipeline_corpus as corpus
import pytest

from autograder.pipeline.course import ROOT

pytestmark = pytest.mark.slow

# student -> score, a few of the corpus's cases (pipeline_corpus.CASES has the reasons)
STUDENTS = {s: corpus.CASES[s][0] for s in ("honest-full", "honest-partial", "edited-test")}
# `tiny` has no grading spec: the gradebook is what is tested, so its in-kernel scores are asked for.
LIMITS = ["--cell-timeout", "30", "--wall", "120", "--workers", "1", "--quiet", "--no-verdict"]


def _server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres():
    """A function making a fresh database on a private server; returns its URL."""
    bindir = _server_binaries()
    if bindir is None:
        pytest.skip("POSTGRESQL TEST SKIPPED: no PostgreSQL server — run `bash tests/pipeline/install_postgres.sh` "
                    "(apt-get install postgresql)")
    pytest.importorskip("psycopg2", reason="POSTGRESQL TEST SKIPPED: psycopg2 not installed")
    as_postgres = {}
    data = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    if os.getuid() == 0:  # the server refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("POSTGRESQL TEST SKIPPED: running as root and there is no postgres user to run the server")
        os.chown(data, user.pw_uid, user.pw_gid)
        as_postgres = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    port = _free_port()
    subprocess.run([bindir / "initdb", "-D", data / "db", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, cwd=data, **as_postgres)
    # fsync off: a scratch server that is thrown away; durability would only cost time.
    server = subprocess.Popen([bindir / "postgres", "-D", data / "db", "-h", "127.0.0.1", "-p", str(port),
                               "-k", data, "-c", "fsync=off", "-c", "full_page_writes=off"],
                              cwd=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **as_postgres)
    import psycopg2
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres").close()
                break
            except psycopg2.OperationalError:
                assert server.poll() is None and time.monotonic() < deadline, "PostgreSQL did not start"
                time.sleep(0.3)

        def database(name: str) -> str:
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
            conn.close()
            return f"postgresql://postgres@127.0.0.1:{port}/{name}"

        yield database
    finally:
        server.terminate()  # SIGTERM: the server's smart shutdown
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(data, ignore_errors=True)


def _query(url: str, sql: str) -> list[tuple]:
    import psycopg2
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def _source(tmp: Path, assignments: list[str]) -> Path:
    """The fixture assignment under each name (its notebook renamed to match)."""
    for a in assignments:
        (tmp / "source" / a).mkdir(parents=True)
        shutil.copy(corpus.FIXTURE_SOURCE / corpus.ASSIGNMENT / f"{corpus.ASSIGNMENT}.ipynb",
                    tmp / "source" / a / f"{a}.ipynb")
    return tmp / "source"


def _hand_ins(tmp: Path, assignment: str) -> Path:
    folder = tmp / f"handins-{assignment}"
    for student, files in corpus.hand_ins().items():
        if student in STUDENTS:
            (folder / student / assignment).mkdir(parents=True)
            (folder / student / assignment / f"{assignment}.ipynb").write_bytes(files["tiny.ipynb"])
    return folder


def _grade_all(tmp: Path, assignment: str, url: str) -> subprocess.Popen:
    folder = tmp / f"handins-{assignment}"
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(folder),
                             "-a", assignment, "--course", str(tmp / "course"), "--source", str(tmp / "source"),
                             "--db-url", url, *LIMITS], cwd=ROOT, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _report(course: Path, assignment: str) -> dict[str, float]:
    (rows,) = [rows for rows in (json.loads(p.read_text())["rows"] for p in (course / "reports").glob("*.json"))
               if rows[0]["assignment"] == assignment]
    return {r["student"]: r["score"] for r in rows}


def test_two_grade_all_runs_at_once_share_one_postgres_gradebook(tmp_path, postgres):
    """Two assignments graded at once by two processes, each writing the same database."""
    url = postgres("two_runs")
    assignments = ["tiny", "tiny2"]
    _source(tmp_path, assignments)
    for a in assignments:
        _hand_ins(tmp_path, a)
    runs = [_grade_all(tmp_path, a, url) for a in assignments]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for run, output in zip(runs, outputs):
        assert run.returncode == 0, output
    course = tmp_path / "course"
    assert not (course / "gradebook.db").exists()
    for a in assignments:
        assert _report(course, a) == STUDENTS
    rows = _query(url, "SELECT a.name, s.student_id, COUNT(*) FROM submitted_assignment s "
                       "JOIN assignment a ON a.id = s.assignment_id GROUP BY a.name, s.student_id")
    assert sorted(rows) == sorted((a, s, 1) for a in assignments for s in STUDENTS)
    assert sorted(r[0] for r in _query(url, "SELECT id FROM student")) == sorted(STUDENTS)
    # grades.csv holds every assignment, whichever run wrote it last
    grades = (course / "grades.csv").read_text().splitlines()
    assert {line.split(",")[0] for line in grades[1:]} == set(assignments)

    # A second run on the same gradebook finds nothing changed and reports the same.
    rerun = _grade_all(tmp_path, "tiny", url)
    output = rerun.communicate(timeout=900)[0]
    assert rerun.returncode == 0, output
    reports = [json.loads(p.read_text())["rows"] for p in (course / "reports").glob("*.json")]
    tiny = [rows for rows in reports if rows[0]["assignment"] == "tiny"]
    assert len(tiny) == 2 and tiny[0] == tiny[1]
