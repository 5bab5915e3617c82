"""The layout's `app:` section: read with file:line errors, and its code imported with the same."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest

from actors.app.loading import load_app
from cluster.layout.loader import LayoutError, load_layout, parse_layout

NODES = """\
cluster: appy
nodes:
  manager: {role: manager, host: 127.0.0.1, port: 9100}
  worker: {role: worker, host: 127.0.0.1, port: 9101, count: 2}
"""

APP_CODE = """
from actors import ClusterActor
from cluster import Provider

class Counter(ClusterActor):
    pass

class Tally(ClusterActor):
    pass

class GCounter(Provider):
    state_type = "gcounter"

class KvClash(Provider):
    state_type = "kv"

class NotAnActor:
    pass
"""


def write(tmp_path: Path, app: str, code: str = APP_CODE) -> Path:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "usercode.py").write_text(code)
    layout = tmp_path / "layout.yaml"
    layout.write_text(NODES + textwrap.dedent(app))
    return layout


def problems(error: LayoutError) -> list[str]:
    return [str(problem) for problem in error.problems]


def test_a_valid_section_reads_per_role_and_node(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        app:
          path: [app]
          actors:
            worker: [{name: counter, class: "usercode:Counter"}]
            manager: [{name: tally, class: "usercode:Tally", args: {expect: 4}}]
            worker-2: [{name: extra, class: "usercode:Counter"}]
          providers: ["usercode:GCounter"]
          max_message_size: 4096
        """,
    )
    layout = load_layout(path)
    assert [a.name for a in layout.app_actors("worker-1")] == ["counter"]
    assert [a.name for a in layout.app_actors("worker-2")] == ["counter", "extra"]
    assert dict(layout.app_actors("manager")[0].args) == {"expect": 4}
    assert layout.app.max_message_size == 4096
    assert layout.app.path == (str((tmp_path / "app").resolve()),)
    loaded = load_app(layout)
    assert loaded.actor_classes["usercode:Counter"].__name__ == "Counter"
    assert "gcounter" in loaded.providers and "kv" in loaded.providers
    assert pickle.loads(pickle.dumps(layout)) == layout


def test_the_app_section_is_part_of_the_layout_digest(tmp_path: Path) -> None:
    plain = parse_layout(NODES)
    with_app = load_layout(
        write(tmp_path, 'app: {actors: {worker: [{name: c, class: "usercode:Counter"}]}}\n')
    )
    assert plain.digest != with_app.digest


def test_shape_problems_are_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        app:
          path: [nowhere]
          actors:
            worker: [{name: counter, class: "usercode:Counter"}, {name: counter, class: "usercode:Tally"}]
            worker-2: [{name: counter, class: "usercode:Counter"}]
            wrker: []
            manager: [{name: tally, class: "no colon"}, {name: t2, class: "usercode:Tally", args: [1]}]
          providers: ["usercode:GCounter", "usercode:GCounter"]
          queue_limit: 0
          supervision: {max_restarts: -1}
        """,
    )
    with pytest.raises(LayoutError) as refused:
        load_layout(path)
    found = problems(refused.value)
    text = "\n".join(found)
    assert "layout.yaml:6: app.path: import root 'nowhere' is not a folder" in text
    assert "layout.yaml:8: app.actors.worker: actor name 'counter' is used twice on node worker-1" in text
    assert "layout.yaml:9: app.actors.worker-2: actor name 'counter' is used twice on node worker-2" in text
    assert "'wrker' is neither a role nor a node (did you mean 'worker'?)" in text
    assert "app.actors.manager[0].class: 'no colon' is not 'module:Class'" in text
    assert "app.actors.manager[1].args: args must be a map" in text
    assert "provider 'usercode:GCounter' is listed twice" in text
    assert "app.queue_limit: must be at least 1, got 0" in text
    assert "app.supervision.max_restarts: must be a whole number >= 0" in text


def test_import_problems_name_the_layout_line_and_the_error_in_one_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        app:
          path: [app]
          actors:
            worker: [{name: a, class: "missing_module:Counter"}, {name: b, class: "usercode:Nope"}]
            manager: [{name: c, class: "usercode:NotAnActor"}, {name: d, class: "broken:Thing"}]
          providers: ["usercode:KvClash", "usercode:Counter"]
        """,
    )
    (tmp_path / "app" / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    layout = load_layout(path)  # the shape is fine: only importing finds these
    with pytest.raises(LayoutError) as refused:
        load_app(layout)
    found = problems(refused.value)
    assert len(found) == 6, found
    assert all("\n" not in problem for problem in found)
    text = "\n".join(found)
    assert "layout.yaml:8: app.actors.worker[0].class: cannot import module 'missing_module'" in text
    assert "ModuleNotFoundError: No module named 'missing_module'" in text
    assert "module 'usercode' has no 'Nope'" in text
    assert "'usercode:NotAnActor' is not a ClusterActor subclass" in text
    assert "cannot import module 'broken' for 'broken:Thing': RuntimeError: boom at import" in text
    assert "'usercode:KvClash' has state type 'kv', which is a built-in provider's" in text
    assert "'usercode:Counter' is not a Provider subclass" in text
