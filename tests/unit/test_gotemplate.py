"""--format templates (issue 8 §6): the Go-template forms docker/podman users type, JSON values
in Python format templates, and exit 2 for what is not supported (never a silent literal)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netctl import gotemplate
from netctl.errors import InvalidInput
from netctl.output import template

ROW = {"name": "web", "id": "ab" * 32, "internal": True, "sandbox": None, "endpoint_count": 2,
       "labels": {"k": "v", "a": "b"}, "aliases": ["x", "y"],
       "subnets": [{"subnet": "10.1.0.0/24", "gateway": "10.1.0.1", "ip_range": None}]}


@pytest.mark.parametrize(("fmt", "expected"), [
    ("{{.Name}}", "web"),
    ("{{ .Name }}", "web"),
    ("{{.ID}}", "ab" * 32),
    ("{{.name}} {{.EndpointCount}} {{.endpoint_count}}", "web 2 2"),
    ("{{.Internal}} {{.Sandbox}}", "true null"),
    ("{{.Aliases}}", '["x","y"]'),
    ("{{json .Labels}}", '{"k":"v","a":"b"}'),
    ("{{json .Name}}", '"web"'),
    ("{{range .Aliases}}[{{.}}]{{end}}", "[x][y]"),
    ("{{range .Subnets}}{{.Subnet}} via {{.Gateway}}{{end}}", "10.1.0.0/24 via 10.1.0.1"),
    ("{{range .Labels}}{{.}},{{end}}", "b,v,"),  # a map's values, in key order (Go's rule)
    ('{{index .Labels "k"}}|{{index .Labels "missing"}}', "v|"),
    ('{{index .Subnets 0 "gateway"}}', "10.1.0.1"),
    ("{{println .Name .Internal}}", "web true\n"),
    ("{{.Name}}\\t{{.Internal}}", "web\ttrue"),
    ("a {{- .Name -}} b", "awebb"),
    ("{internal} {sandbox} {aliases} {labels[k]} {subnets[0][subnet]} {name:>4}",
     'true null ["x","y"] v 10.1.0.0/24  web'),
    ("{name!s} {internal!s:>5}", "web  true"),  # !s is the text, not the repr of a wrapper
])
def test_supported_forms(fmt, expected):
    assert template(fmt, ROW) == expected


def test_json_dot_is_the_row():
    assert json.loads(template("{{json .}}", ROW)) == ROW


@pytest.mark.parametrize("fmt", [
    "{{.Name | upper}}", "{{if .Internal}}x{{end}}", "{{with .Labels}}{{end}}", "{{$x := .Name}}",
    "{{range $i, $e := .Aliases}}{{end}}", "{{printf \"%s\" .Name}}", "{{upper .Name}}",
    "{{range .Aliases}}", "{{end}}", "{{.Name}", "{{}}", "{{/* comment */}}",
    "table {{.Name}}\\t{{.ID}}", "{{range .Aliases}}{{else}}{{end}}", "{{json}}", "{{index .Labels}}",
    "{{.Nope}}", "{{.Name.First}}", "{{index .Aliases 5}}", "{{range .Name}}{{end}}",
    '{{index .Labels "\\q"}}',
    # Python format strings: no way out of the row into Python objects or their reprs
    "{name.__init__.__globals__}", "{name.__class__}", "{subnets[0].subnet}", "{name!r}", "{name!a}",
    "{name:{name.__class__}}",
])
def test_unsupported_or_wrong_is_exit_2(fmt):
    with pytest.raises(InvalidInput) as info:
        template(fmt, ROW)
    assert info.value.exit_code == 2 and "--format" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}. |"$()-_abcNAMEjsonrangeindex\\tn0 ', max_size=40))
def test_any_template_renders_or_is_refused(fmt):
    try:
        out = template(fmt, ROW)
    except InvalidInput:
        return
    assert isinstance(out, str)


def test_the_cli_renders_docker_templates_and_refuses_others(cli):
    cli.ok("network", "create", "a", "--subnet", "10.1.0.0/24", "--internal")
    assert cli.ok("network", "ls", "--format", "{{.Name}} {{.Internal}}") == "a true\n"
    assert cli.ok("network", "inspect", "a", "--format", "{internal}") == "true\n"
    res = cli("network", "ls", "--format", "{{if .Internal}}x{{end}}")
    assert res.code == 2 and res.out == "" and "unsupported template" in res.err
    cli.ok("network", "rm", "a")
    assert cli("network", "ls", "--format", "{{.Name | upper}}").code == 2  # even with no rows


def test_is_template():
    assert gotemplate.is_template("{{.Name}}") and not gotemplate.is_template("{name}")
