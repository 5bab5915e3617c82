"""Layouts: loading, count expansion, Zeek's default topology, connect rules, digests and every problem."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import yaml

from cluster.layout.loader import LayoutError, load_layout, parse_layout
from cluster.layout.located_yaml import LocatedProblem
from cluster.layout.model import DEFAULT_CONNECT, ROLES, Layout, NodeSpec
from cluster.layout.presets import PRESETS

LAYOUTS = Path(__file__).resolve().parent.parent / "layouts"

HEAD = (
    "cluster: t",
    "nodes:",
    "  manager: {role: manager, host: 127.0.0.1, port: 7000}",
)
"""Lines 1-3 of most cases below, so the line a case expects is its own index + 4."""

WORKER = "  worker: {role: worker, host: 127.0.0.1, port: 7001}"
WORKERS = "  worker: {role: worker, host: 127.0.0.1, port: 7001, count: 2}"

TOPOLOGY = (
    "cluster: topo",
    "nodes:",
    "  manager: {role: manager, host: 127.0.0.1, port: 7000}",
    "  logger: {role: logger, host: 127.0.0.1, port: 7001, count: 2}",
    "  proxy: {role: proxy, host: 127.0.0.1, port: 7010, count: 2}",
    "  worker: {role: worker, host: 127.0.0.1, port: 7020, count: 3}",
)


def text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def problems_of(source: str) -> tuple[LocatedProblem, ...]:
    with pytest.raises(LayoutError) as caught:
        parse_layout(source)
    return caught.value.problems


def worker_with(**fields: str) -> str:
    spec = {"role": "worker", "host": "127.0.0.1", "port": "7001", **fields}
    return "  worker: {" + ", ".join(f"{key}: {value}" for key, value in spec.items()) + "}"


# -- one test per problem -----------------------------------------------------------------------------------

# (id, lines, line, field, message fragment); each layout has exactly this one problem.
PROBLEMS = [
    ("yaml-syntax", ("cluster: t", "  nodes: x"), 2, "", "YAML syntax error: mapping values are not allowed"),
    ("yaml-unclosed-flow", (*HEAD, "  worker: {role: worker"), 5, "", "YAML syntax error"),
    ("yaml-bad-character", ("cluster: t\x01",), 1, "", "unacceptable character #x0001"),
    ("empty", ("# nothing here",), None, "", "layout is empty"),
    ("not-a-mapping", ("- cluster: t",), 1, "", "must be a mapping with cluster and nodes, got a list"),
    ("scalar-document", ("just words",), 1, "", "must be a mapping with cluster and nodes, got str"),
    ("unknown-top-key", (*HEAD, "colour: blue"), 4, "colour", "unknown key 'colour'"),
    ("unknown-top-key-suggests", (*HEAD, "conect: {}"), 4, "conect", "did you mean 'connect'"),
    (
        "unknown-node-key",
        (*HEAD, worker_with(colour="red")),
        4,
        "nodes.worker.colour",
        "unknown key 'colour'",
    ),
    ("missing-cluster", HEAD[1:], 1, "cluster", "missing required key 'cluster'"),
    ("missing-nodes", ("cluster: t",), 1, "nodes", "missing required key 'nodes'"),
    ("nodes-not-mapping", ("cluster: t", "nodes: [manager]"), 2, "nodes", "must be a mapping of node name"),
    ("node-not-mapping", (*HEAD, "  worker: 7001"), 4, "nodes.worker", "must be a mapping with role, host"),
    ("missing-role", (*HEAD, "  worker: {host: 127.0.0.1, port: 7001}"), 4, "nodes.worker.role", "missing"),
    ("missing-host", (*HEAD, "  worker: {role: worker, port: 7001}"), 4, "nodes.worker.host", "missing"),
    ("missing-port", (*HEAD, "  worker: {role: worker, host: h}"), 4, "nodes.worker.port", "missing"),
    ("unknown-role", (*HEAD, worker_with(role="wrker")), 4, "nodes.worker.role", "unknown role 'wrker'"),
    ("role-not-string", (*HEAD, worker_with(role="[worker]")), 4, "nodes.worker.role", "must be a string"),
    (
        "no-manager",
        ("cluster: t", "nodes:", "  worker: {role: worker, host: 127.0.0.1, port: 7001}"),
        2,
        "nodes",
        "no node has role manager",
    ),
    ("no-nodes", ("cluster: t", "nodes: {}"), 2, "nodes", "no node has role manager"),
    (
        "two-managers",
        (*HEAD, "  manager-2: {role: manager, host: 127.0.0.1, port: 7001}"),
        4,
        "nodes.manager-2.role",
        "'manager-2' is a second manager ('manager' at line 3)",
    ),
    (
        "manager-count-2",
        ("cluster: t", "nodes:", "  manager: {role: manager, host: h, port: 7000, count: 2}"),
        3,
        "nodes.manager.role",
        "'manager-2' is a second manager",
    ),
    (
        "duplicate-name-after-count",
        (*HEAD, WORKERS, "  worker-1: {role: worker, host: 127.0.0.1, port: 7010}"),
        5,
        "nodes.worker-1",
        "node name 'worker-1' is already used by nodes.worker (line 4)",
    ),
    (
        "count-expands-onto-a-name",
        (*HEAD, "  worker-2: {role: worker, host: 127.0.0.1, port: 7010}", WORKERS),
        5,
        "nodes.worker",
        "count expands to 'worker-2', which is already used by nodes.worker-2 (line 4)",
    ),
    (
        "duplicate-yaml-key",
        (*HEAD, WORKER, WORKER),
        5,
        "nodes.worker",
        "duplicate key 'worker' (first at line 4)",
    ),
    ("duplicate-top-key", (*HEAD, "cluster: u"), 4, "cluster", "duplicate key 'cluster' (first at line 1)"),
    (
        "duplicate-spec-key",
        (*HEAD, "  worker:", "    role: worker", "    host: h", "    port: 7001", "    port: 7002"),
        8,
        "nodes.worker.port",
        "duplicate key 'port' (first at line 7)",
    ),
    (
        "duplicate-address",
        (*HEAD, worker_with(port="7000")),
        4,
        "nodes.worker",
        "address 127.0.0.1:7000 of 'worker' is already used by 'manager' (line 3)",
    ),
    (
        "duplicate-address-other-spelling",
        (
            "cluster: t",
            "nodes:",
            "  manager: {role: manager, host: '::1', port: 7000}",
            "  worker: {role: worker, host: '0:0::1', port: 7000}",
        ),
        4,
        "nodes.worker",
        "address [::1]:7000 of 'worker' is already used by 'manager'",
    ),
    (
        "overlapping-ranges-reported-once",
        (*HEAD, worker_with(count="3"), "  proxy: {role: proxy, host: 127.0.0.1, port: 7002, count: 3}"),
        5,
        "nodes.proxy",
        "address 127.0.0.1:7002 of 'proxy-1' is already used by 'worker-2' (line 4) (and 1 more)",
    ),
    ("host-with-space", (*HEAD, worker_with(host="'a b'")), 4, "nodes.worker.host", "bad host 'a b'"),
    ("host-bad-ipv4", (*HEAD, worker_with(host="10.0.0.300")), 4, "nodes.worker.host", "not a valid IPv4"),
    ("host-unspecified", (*HEAD, worker_with(host="0.0.0.0")), 4, "nodes.worker.host", "unspecified address"),
    ("host-unspecified-v6", (*HEAD, worker_with(host="'::'")), 4, "nodes.worker.host", "unspecified address"),
    ("host-multicast", (*HEAD, worker_with(host="224.0.0.1")), 4, "nodes.worker.host", "multicast address"),
    ("host-label-dash", (*HEAD, worker_with(host="-bad.example")), 4, "nodes.worker.host", "valid hostname"),
    ("host-empty-label", (*HEAD, worker_with(host="a..b")), 4, "nodes.worker.host", "valid hostname"),
    ("host-empty", (*HEAD, worker_with(host="''")), 4, "nodes.worker.host", "bad host ''"),
    ("host-not-string", (*HEAD, worker_with(host="5")), 4, "nodes.worker.host", "must be a string, got int"),
    (
        "port-too-high",
        (*HEAD, worker_with(port="70000")),
        4,
        "nodes.worker.port",
        "port 70000 is out of range 1..65535",
    ),
    ("port-zero", (*HEAD, worker_with(port="0")), 4, "nodes.worker.port", "port 0 is out of range"),
    ("port-negative", (*HEAD, worker_with(port="-1")), 4, "nodes.worker.port", "port -1 is out of range"),
    (
        "port-string",
        (*HEAD, worker_with(port="'7001'")),
        4,
        "nodes.worker.port",
        "must be an integer, got str",
    ),
    ("port-bool", (*HEAD, worker_with(port="true")), 4, "nodes.worker.port", "must be an integer, got bool"),
    (
        "port-float",
        (*HEAD, worker_with(port="7001.0")),
        4,
        "nodes.worker.port",
        "must be an integer, got float",
    ),
    (
        "count-past-last-port",
        (*HEAD, worker_with(port="65534", count="3")),
        4,
        "nodes.worker.count",
        "count 3 from port 65534 needs ports up to 65536",
    ),
    (
        "count-zero",
        (*HEAD, worker_with(count="0")),
        4,
        "nodes.worker.count",
        "count must be at least 1, got 0",
    ),
    (
        "count-string",
        (*HEAD, worker_with(count="'2'")),
        4,
        "nodes.worker.count",
        "must be an integer, got str",
    ),
    ("count-float", (*HEAD, worker_with(count="1.5")), 4, "nodes.worker.count", "must be an integer"),
    (
        "count-bool",
        (*HEAD, worker_with(count="true")),
        4,
        "nodes.worker.count",
        "must be an integer, got bool",
    ),
    (
        "bad-node-name",
        (*HEAD, "  'worker 1': {role: worker, host: h, port: 7001}"),
        4,
        "nodes.worker 1",
        "node name 'worker 1' must match",
    ),
    (
        "node-name-not-string",
        (*HEAD, "  7: {role: worker, host: h, port: 7001}"),
        4,
        "nodes",
        "keys must be names, got int '7'",
    ),
    (
        "node-named-after-another-role",
        (*HEAD, "  logger: {role: proxy, host: h, port: 7001}"),
        4,
        "nodes.logger",
        "node name 'logger' is a role name",
    ),
    (
        "role-named-node-not-alone",
        (
            *HEAD,
            "  proxy: {role: proxy, host: h, port: 7001}",
            "  proxy-2: {role: proxy, host: h, port: 7002}",
        ),
        4,
        "nodes.proxy",
        "node name 'proxy' is a role name, so it must be the only proxy; 'proxy-2' (line 5) is another",
    ),
    ("cluster-bad-name", ("cluster: a/b", *HEAD[1:]), 1, "cluster", "cluster name 'a/b' must match"),
    ("cluster-not-string", ("cluster: [a]", *HEAD[1:]), 1, "cluster", "must be a string, got a list"),
    ("cluster-null", ("cluster:", *HEAD[1:]), 1, "cluster", "must be a string, got nothing"),
    (
        "connect-unknown-key",
        (*HEAD, "connect:", "  wrker: [manager]"),
        5,
        "connect.wrker",
        "'wrker' is neither a role nor a node",
    ),
    (
        "connect-unknown-value",
        (*HEAD, WORKER, "connect:", "  worker: [manager, nobody]"),
        6,
        "connect.worker",
        "unknown role or node 'nobody'",
    ),
    (
        "connect-node-lists-itself",
        (*HEAD, WORKERS, "connect:", "  worker-1: [manager, worker-1]"),
        6,
        "connect.worker-1",
        "'worker-1' lists itself",
    ),
    (
        "connect-role-rule-names-a-member",
        (*HEAD, WORKERS, "connect:", "  worker: [worker-1]"),
        6,
        "connect.worker",
        "the rule for worker makes 'worker-1' connect to itself",
    ),
    (
        "connect-value-not-a-list",
        (*HEAD, WORKER, "connect:", "  worker: manager"),
        6,
        "connect.worker",
        "must be a list of role or node names",
    ),
    (
        "connect-target-not-string",
        (*HEAD, WORKER, "connect:", "  worker: [[manager]]"),
        6,
        "connect.worker",
        "must be a string, got a list",
    ),
    (
        "connect-not-a-mapping",
        (*HEAD, "connect: [manager]"),
        4,
        "connect",
        "must be a mapping of role or node",
    ),
    ("unknown-preset", ("cluster: t", "preset: lann", *HEAD[1:]), 2, "preset", "unknown preset 'lann'"),
    ("preset-not-string", ("cluster: t", "preset: 5", *HEAD[1:]), 2, "preset", "must be a string, got int"),
    (
        "timings-unknown-name",
        (*HEAD, "timings:", "  probe_intervall: 0.5"),
        5,
        "timings.probe_intervall",
        "did you mean 'probe_interval'",
    ),
    (
        "timings-wrong-type",
        (*HEAD, "timings: {gossip_nodes: 2.5}"),
        4,
        "timings.gossip_nodes",
        "must be an integer, got 2.5",
    ),
    (
        "timings-not-positive",
        (*HEAD, "timings:", "  gossip_interval: 0"),
        5,
        "timings.gossip_interval",
        "must be greater than 0",
    ),
    (
        "timings-probe-timeout-not-below-interval",
        (*HEAD, "timings:", "  probe_interval: 0.1"),
        5,
        "timings.probe_interval",
        "probe_timeout 0.2 must be less than probe_interval 0.1",
    ),
    (
        "timings-retry-bounds",
        (*HEAD, "timings:", "  connect_retry_min: 5"),
        5,
        "timings.connect_retry_min",
        "must not exceed connect_retry_max 1.0",
    ),
    ("timings-not-a-mapping", (*HEAD, "timings: 5"), 4, "timings", "must be a mapping of timing name"),
    (
        "bad-merge",
        (*HEAD, "  worker: {<<: 5, role: worker, host: h, port: 7001}"),
        4,
        "nodes.worker",
        "bad merge",
    ),
]


@pytest.mark.parametrize(
    ("lines", "line", "field", "fragment"),
    [case[1:] for case in PROBLEMS],
    ids=[case[0] for case in PROBLEMS],
)
def test_problem(lines: tuple[str, ...], line: int | None, field: str, fragment: str) -> None:
    problems = problems_of(text(*lines))
    assert len(problems) == 1, "\n".join(map(str, problems))
    (problem,) = problems
    assert (problem.source, problem.line, problem.field) == ("<string>", line, field), str(problem)
    assert fragment in problem.message


def test_problem_format() -> None:
    problem = LocatedProblem("layouts/x.yaml", 12, "nodes.worker.port", "port 70000 is out of range 1..65535")
    assert str(problem) == "layouts/x.yaml:12: nodes.worker.port: port 70000 is out of range 1..65535"
    assert str(LocatedProblem("x.yaml", None, "", "cannot read layout")) == "x.yaml: cannot read layout"


def test_all_problems_are_reported_in_line_order() -> None:
    source = text(
        "cluster: t",
        "colour: blue",
        "nodes:",
        "  manager: {role: manager, host: 127.0.0.1, port: 7000}",
        "  worker: {role: wrker, host: 127.0.0.1, port: 70000}",
        "connect:",
        "  nobody: []",
        "preset: lann",
    )
    with pytest.raises(LayoutError) as caught:
        parse_layout(source, "layouts/x.yaml")
    assert str(caught.value).splitlines() == [
        "layouts/x.yaml:2: colour: unknown key 'colour' (did you mean 'cluster'?); "
        "allowed: cluster, preset, timings, nodes, connect, app, keyring, security",
        "layouts/x.yaml:5: nodes.worker.role: unknown role 'wrker' (did you mean 'worker'?); "
        "roles are manager, logger, proxy, worker",
        "layouts/x.yaml:5: nodes.worker.port: port 70000 is out of range 1..65535",
        "layouts/x.yaml:7: connect.nobody: 'nobody' is neither a role nor a node",
        "layouts/x.yaml:8: preset: unknown preset 'lann'; known: fast, lan, local, wan",
    ]


def test_unreadable_role_does_not_also_report_no_manager() -> None:
    problems = problems_of(text("cluster: t", "nodes:", "  manager: {role: mangaer, host: h, port: 7000}"))
    assert [p.field for p in problems] == ["nodes.manager.role"]


def test_unreadable_node_is_still_known_to_connect() -> None:
    # A bad port is one problem, not also an "unknown node" wherever the node is named.
    source = text(*HEAD, worker_with(port="0"), "connect:", "  worker: [manager]", "  manager: [worker]")
    assert [p.field for p in problems_of(source)] == ["nodes.worker.port"]


def test_missing_file() -> None:
    with pytest.raises(LayoutError) as caught:
        load_layout("/nonexistent/layout.yaml")
    (problem,) = caught.value.problems
    assert (problem.source, problem.line, problem.field) == ("/nonexistent/layout.yaml", None, "")
    assert "cannot read layout: No such file or directory" in problem.message


def test_directory_is_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="cannot read layout"):
        load_layout(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"cluster: \xff\n")
    with pytest.raises(LayoutError, match="not UTF-8"):
        load_layout(path)


def test_problems_carry_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text(*HEAD, worker_with(port="70000")))
    with pytest.raises(LayoutError) as caught:
        load_layout(path)
    assert str(caught.value) == f"{path}:4: nodes.worker.port: port 70000 is out of range 1..65535"


def test_layout_error_pickles() -> None:
    error = LayoutError([LocatedProblem("x", 1, "f", "m")])
    assert pickle.loads(pickle.dumps(error)).problems == error.problems


# -- the model ----------------------------------------------------------------------------------------------


def test_count_expands_in_place_on_consecutive_ports() -> None:
    layout = parse_layout(text(*HEAD, "  worker: {role: worker, host: 127.0.0.1, port: 7001, count: 3}"))
    assert layout.names == ("manager", "worker-1", "worker-2", "worker-3")
    assert [node.port for node in layout.roles("worker")] == [7001, 7002, 7003]
    assert layout.node("worker-3") == NodeSpec("worker-3", "worker", "127.0.0.1", 7003)


def test_count_of_one_still_numbers_the_node() -> None:
    layout = parse_layout(text(*HEAD, worker_with(count="1")))
    assert layout.names == ("manager", "worker-1")


def test_count_up_to_the_last_port() -> None:
    layout = parse_layout(text(*HEAD, worker_with(port="65534", count="2")))
    assert layout.node("worker-2").port == 65535


def test_accessors() -> None:
    layout = parse_layout(text(*TOPOLOGY), "topo.yaml")
    assert (layout.cluster, layout.preset, layout.source) == ("topo", "local", "topo.yaml")
    assert layout.manager == NodeSpec("manager", "manager", "127.0.0.1", 7000)
    assert layout.manager.address == ("127.0.0.1", 7000)
    assert [node.name for node in layout.roles("logger")] == ["logger-1", "logger-2"]
    assert layout.timings == PRESETS["local"]
    with pytest.raises(KeyError):
        layout.node("nobody")
    with pytest.raises(KeyError):
        layout.outgoing("nobody")
    with pytest.raises(ValueError, match="unknown role"):
        layout.roles("workers")


def test_layout_is_immutable_hashable_and_picklable() -> None:
    layout = parse_layout(text(*TOPOLOGY))
    with pytest.raises(TypeError):
        layout.connect["manager"] = ()  # type: ignore[index]
    copy = pickle.loads(pickle.dumps(layout))
    assert copy == layout and hash(copy) == hash(layout) and copy.digest == layout.digest


def test_direct_construction_checks_invariants() -> None:
    good = parse_layout(text(*TOPOLOGY))
    assert Layout(good.cluster, good.preset, good.nodes, dict(good.connect), good.timings) == good
    with pytest.raises(ValueError, match="one entry per node"):
        Layout(good.cluster, good.preset, good.nodes, {}, good.timings)
    with pytest.raises(ValueError, match="exactly one manager"):
        Layout(good.cluster, good.preset, good.nodes[1:], dict(good.connect), good.timings)
    loop = {**good.connect, "manager": ("manager",)}
    with pytest.raises(ValueError, match="other nodes"):
        Layout(good.cluster, good.preset, good.nodes, loop, good.timings)


def test_hosts_are_normalized() -> None:
    layout = parse_layout(
        text(
            "cluster: t",
            "nodes:",
            "  manager: {role: manager, host: LocalHost, port: 7000}",
            "  worker: {role: worker, host: '0:0:0:0:0:0:0:1', port: 7000}",
            "  proxy: {role: proxy, host: node-1.example.org., port: 7000}",
        )
    )
    assert [node.host for node in layout.nodes] == ["localhost", "::1", "node-1.example.org"]


def test_merge_keys_share_settings() -> None:
    layout = parse_layout(
        text(
            "cluster: t",
            "nodes:",
            "  manager: &base {role: manager, host: 10.0.0.1, port: 7000}",
            "  worker: {<<: *base, role: worker, count: 2, port: 7001}",
        )
    )
    assert layout.node("worker-2") == NodeSpec("worker-2", "worker", "10.0.0.1", 7002)


def test_preset_defaults_to_local_and_timings_override() -> None:
    assert parse_layout(text(*HEAD)).preset == "local"
    layout = parse_layout(
        text("cluster: t", "preset: wan", *HEAD[1:], "timings: {probe_interval: 4, gossip_nodes: 9}")
    )
    assert layout.timings.probe_interval == 4.0 and layout.timings.gossip_nodes == 9
    assert layout.timings.probe_timeout == PRESETS["wan"].probe_timeout


def test_empty_optional_sections() -> None:
    layout = parse_layout(text(*HEAD, "timings:", "connect:"))
    assert layout.timings == PRESETS["local"]
    assert layout.connect == {"manager": ()}


# -- topology -----------------------------------------------------------------------------------------------

DEFAULT_OUTGOING = {
    "manager": ("logger-1", "logger-2"),
    "logger-1": (),
    "logger-2": (),
    "proxy-1": ("logger-1", "logger-2", "manager"),
    "proxy-2": ("logger-1", "logger-2", "manager"),
    "worker-1": ("logger-1", "logger-2", "proxy-1", "proxy-2", "manager"),
    "worker-3": ("logger-1", "logger-2", "proxy-1", "proxy-2", "manager"),
}


@pytest.mark.parametrize(("name", "expected"), DEFAULT_OUTGOING.items())
def test_default_topology(name: str, expected: tuple[str, ...]) -> None:
    layout = parse_layout(text(*TOPOLOGY))
    assert layout.outgoing(name) == expected
    assert layout.connect[name] == expected


def test_default_topology_without_loggers_or_proxies() -> None:
    layout = parse_layout(text(*HEAD, WORKER))
    assert layout.connect == {"manager": (), "worker": ("manager",)}


def test_default_table_is_zeeks() -> None:
    assert set(DEFAULT_CONNECT) == set(ROLES)
    assert DEFAULT_CONNECT["worker"] == ("logger", "proxy", "manager")


def test_incoming() -> None:
    layout = parse_layout(text(*TOPOLOGY))
    assert layout.incoming("manager") == ("proxy-1", "proxy-2", "worker-1", "worker-2", "worker-3")
    assert layout.incoming("logger-2") == (
        "manager",
        "proxy-1",
        "proxy-2",
        "worker-1",
        "worker-2",
        "worker-3",
    )
    assert layout.incoming("worker-1") == ()
    with pytest.raises(KeyError):
        layout.incoming("nobody")


# (id, connect lines, node, expected outgoing)
CONNECT_CASES = [
    ("role-key", ("  worker: [manager]",), "worker-2", ("manager",)),
    ("role-key-leaves-others", ("  worker: [manager]",), "proxy-1", ("logger-1", "logger-2", "manager")),
    ("node-key-wins", ("  worker: [manager, proxy]", "  worker-1: [manager]"), "worker-1", ("manager",)),
    (
        "node-key-leaves-its-role",
        ("  worker: [manager, proxy]", "  worker-1: [manager]"),
        "worker-2",
        ("manager", "proxy-1", "proxy-2"),
    ),
    ("role-mesh-excludes-self", ("  worker: [worker]",), "worker-2", ("worker-1", "worker-3")),
    (
        "node-key-role-excludes-self",
        ("  worker-1: [worker, manager]",),
        "worker-1",
        ("worker-2", "worker-3", "manager"),
    ),
    ("empty-list", ("  proxy: []",), "proxy-2", ()),
    (
        "duplicates-collapse",
        ("  proxy: [manager, manager, logger-2, logger]",),
        "proxy-1",
        ("manager", "logger-2", "logger-1"),
    ),
    (
        "manager-key-is-the-role",
        ("  manager: [worker, logger-1]",),
        "manager",
        ("worker-1", "worker-2", "worker-3", "logger-1"),
    ),
    ("logger-may-dial", ("  logger: [manager]",), "logger-2", ("manager",)),
    ("member-named-by-others", ("  worker: [worker-1]", "  worker-1: []"), "worker-3", ("worker-1",)),
]


@pytest.mark.parametrize(
    ("rules", "name", "expected"),
    [case[1:] for case in CONNECT_CASES],
    ids=[case[0] for case in CONNECT_CASES],
)
def test_connect_rules(rules: tuple[str, ...], name: str, expected: tuple[str, ...]) -> None:
    layout = parse_layout(text(*TOPOLOGY, "connect:", *rules))
    assert layout.outgoing(name) == expected


def test_connect_covers_every_node() -> None:
    layout = parse_layout(text(*TOPOLOGY, "connect:", "  worker-1: [manager]"))
    assert tuple(layout.connect) == layout.names


# -- digest -------------------------------------------------------------------------------------------------

BLOCK = text(
    "# a comment",
    "cluster: d",
    "nodes:",
    "  manager: {role: manager, host: 127.0.0.1, port: 7000}",
    "  worker: {role: worker, host: 127.0.0.1, port: 7001, count: 2}",
)


def test_digest_is_short_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", parse_layout(BLOCK).digest)


@pytest.mark.parametrize(
    "same",
    [
        # block style, other key order, other node order, comments
        text(
            "nodes:",
            "  worker:",
            "    count: 2   # two of them",
            "    port: 7001",
            "    host: 127.0.0.1",
            "    role: worker",
            "  manager:",
            "    port: 7000",
            "    role: manager",
            "    host: 127.0.0.1",
            "cluster: d",
        ),
        # the defaults written out
        text(
            "cluster: d",
            "preset: local",
            "timings: {probe_interval: 1}",
            "nodes:",
            "  manager: {role: manager, host: 127.0.0.1, port: 7000}",
            "  worker-1: {role: worker, host: 127.0.0.1, port: 7001}",
            "  worker-2: {role: worker, host: 127.0.0.1, port: 7002}",
            "connect:",
            "  worker: [logger, proxy, manager]",
            "  manager: [logger]",
        ),
        # JSON is YAML too
        '{"cluster": "d", "nodes": {"manager": {"role": "manager", "host": "127.0.0.1", "port": 7000},'
        ' "worker": {"role": "worker", "host": "127.0.0.1", "port": 7001, "count": 2}}}',
    ],
    ids=["reformatted", "defaults-spelt-out", "json"],
)
def test_digest_ignores_form(same: str) -> None:
    assert parse_layout(same, "elsewhere.yaml").digest == parse_layout(BLOCK).digest


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("port: 7001", "port: 7011"),
        ("cluster: d", "cluster: e"),
        ("count: 2", "count: 3"),
        ("role: worker, host: 127.0.0.1", "role: proxy, host: 127.0.0.1"),
        ("worker: {role: worker, host: 127.0.0.1", "worker: {role: worker, host: 127.0.0.2"),
        ("cluster: d", "cluster: d\npreset: fast"),
        ("cluster: d", "cluster: d\ntimings: {gossip_nodes: 4}"),
        ("cluster: d", "cluster: d\nconnect: {worker: [manager, worker]}"),
    ],
)
def test_digest_changes_with_content(old: str, new: str) -> None:
    assert old in BLOCK
    assert parse_layout(BLOCK.replace(old, new, 1)).digest != parse_layout(BLOCK).digest


# -- shipped layouts ----------------------------------------------------------------------------------------

SHIPPED = sorted(LAYOUTS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_shipped_layout_loads(path: Path) -> None:
    layout = load_layout(path)
    assert layout.cluster == path.stem
    assert layout.source == str(path)


@pytest.mark.parametrize(
    ("name", "roles", "first_port"),
    [
        ("local", {"manager": 1, "logger": 1, "proxy": 1, "worker": 3}, 27760),
        ("zeek-small", {"manager": 1, "logger": 0, "proxy": 2, "worker": 2}, 27800),
        ("zeek-logger", {"manager": 1, "logger": 1, "proxy": 2, "worker": 2}, 27820),
        ("large", {"manager": 1, "logger": 2, "proxy": 4, "worker": 44}, 27900),
    ],
)
def test_shipped_layout_shapes(name: str, roles: dict[str, int], first_port: int) -> None:
    layout = load_layout(LAYOUTS / f"{name}.yaml")
    assert {role: len(layout.roles(role)) for role in ROLES} == roles
    assert min(node.port for node in layout.nodes) == first_port
    assert {node.host for node in layout.nodes} == {"127.0.0.1"}


def test_zeek_small_names() -> None:
    layout = load_layout(LAYOUTS / "zeek-small.yaml")
    assert layout.names == ("manager", "proxy-1", "proxy-2", "worker-1", "worker-2")


def test_shipped_ports_do_not_overlap() -> None:
    # Two shipped clusters must be able to run side by side on one machine.
    owner: dict[int, str] = {}
    for path in SHIPPED:
        for node in load_layout(path).nodes:
            assert node.port not in owner, (
                f"{path.name}:{node.name} reuses port {node.port} of {owner[node.port]}"
            )
            owner[node.port] = f"{path.name}:{node.name}"


def _written_out(layout: Layout) -> str:
    """The layout with every node and every node's connect list spelt out, as test tools regenerate it."""
    document = {
        "cluster": layout.cluster,
        "preset": layout.preset,
        "nodes": {n.name: {"role": n.role, "host": n.host, "port": n.port} for n in layout.nodes},
        "connect": {name: list(layout.outgoing(name)) for name in layout.names},
    }
    if layout.app.actors or layout.app.providers:
        document["app"] = layout.app.document()  # import roots written out absolute
    return yaml.safe_dump(document, sort_keys=False)


@pytest.mark.parametrize(
    "source",
    [
        *(path.read_text() for path in SHIPPED),
        text(*TOPOLOGY, "connect:", "  worker: [worker, manager]", "  proxy-1: []"),
    ],
    ids=[*(path.name for path in SHIPPED), "topology-with-rules"],
)
def test_resolved_connect_written_per_node_means_the_same(source: str) -> None:
    # Role-named nodes (``manager``, ``logger``) are alone in their role, so a per-node rule keyed by such a
    # name means the same as the role rule it is read as.
    layout = parse_layout(source, relative_to=LAYOUTS)  # app.path roots are relative to layouts/
    again = parse_layout(_written_out(layout))
    assert again.connect == layout.connect
    assert again.digest == layout.digest


def test_a_metrics_port_is_optional_and_counts_up_with_the_nodes() -> None:
    layout = parse_layout(
        text(*HEAD, "  worker: {role: worker, host: 127.0.0.1, port: 7001, metrics_port: 9100, count: 2}")
    )
    assert layout.manager.metrics_port is None
    assert [node.metrics_port for node in layout.roles("worker")] == [9100, 9101]
    plain = parse_layout(text(*HEAD, "  worker: {role: worker, host: 127.0.0.1, port: 7001, count: 2}"))
    assert layout.digest == plain.digest  # where a node serves its page does not split a cluster


def test_a_metrics_port_that_is_taken_or_out_of_range_is_a_problem() -> None:
    with pytest.raises(
        LayoutError,
        match=r":4: nodes.worker: address 127.0.0.1:7000 of .worker. is already used by .manager.",
    ):
        parse_layout(text(*HEAD, "  worker: {role: worker, host: 127.0.0.1, port: 7001, metrics_port: 7000}"))
    with pytest.raises(LayoutError, match=r"nodes.worker.metrics_port: metrics_port 70000 is out of range"):
        parse_layout(
            text(*HEAD, "  worker: {role: worker, host: 127.0.0.1, port: 7001, metrics_port: 70000}")
        )


def test_a_layout_moved_to_free_ports_keeps_its_timings() -> None:
    """The pytest fixtures move a user's layout to free ports; its timings used to be left behind."""
    from actors.testkit import layout_with_ports

    source = parse_layout(
        "cluster: c\npreset: local\ntimings: {max_frame_size: 65536, probe_interval: 0.25}\n"
        "nodes:\n  manager: {role: manager, host: 127.0.0.1, port: 9000}\n"
        "  worker: {role: worker, host: 127.0.0.1, port: 9001}\n",
        "timings.yaml",
    )
    moved = parse_layout(layout_with_ports(source), "moved.yaml")
    assert moved.timings == source.timings != PRESETS["local"]
    assert moved.node("worker").port != 9001


def test_a_keyring_is_resolved_against_the_layout_and_a_bad_one_is_a_layout_error(tmp_path: Path) -> None:
    from cluster.wire.keyring import KEY_SIZE, Keyring

    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "good.keys").write_text(Keyring(b"\x01" * KEY_SIZE).to_text())
    (tmp_path / "keys" / "bad.keys").write_text('["AAAA"]')
    head = "cluster: c\nnodes:\n  manager: {role: manager, host: 127.0.0.1, port: 9000}\n"
    source = str(tmp_path / "l.yaml")
    layout = parse_layout(head + "keyring: keys/good.keys\n", source)
    assert layout.keyring == tmp_path / "keys" / "good.keys"
    with pytest.raises(LayoutError, match=r"l.yaml:4: keyring: .*bad.keys\[0\]: a key is 32 bytes"):
        parse_layout(head + "keyring: keys/bad.keys\n", source)
    with pytest.raises(LayoutError, match=r"l.yaml:4: keyring: cannot read keyring .*missing.keys"):
        parse_layout(head + "keyring: keys/missing.keys\n", source)


def test_security_none_opts_out_of_sealing_and_cannot_name_a_keyring_too(tmp_path: Path) -> None:
    from cluster.wire.keyring import KEY_SIZE, Keyring

    (tmp_path / "k.keys").write_text(Keyring(b"\x01" * KEY_SIZE).to_text())
    head = "cluster: c\nnodes:\n  manager: {role: manager, host: 127.0.0.1, port: 9000}\n"
    source = str(tmp_path / "l.yaml")
    assert parse_layout(head, source).security == "sealed"
    assert parse_layout(head + "security: none\n", source).security == "none"
    with pytest.raises(LayoutError, match="'open' is not a security mode; modes: sealed, none"):
        parse_layout(head + "security: open\n", source)
    with pytest.raises(LayoutError, match="a keyring is named too"):
        parse_layout(head + "security: none\nkeyring: k.keys\n", source)
