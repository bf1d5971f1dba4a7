"""Runs one Helm library call on the chart; a JSON request on stdin, a JSON answer on stdout.

Requests: {"op": "lint"}, {"op": "render", "values": {...}} (optionally "name" and "namespace"
of the release, default promote), {"op": "validate", "values": {...}}.
"""

import json
import sys

import helm_python as helm


def main() -> None:
    req = json.load(sys.stdin)
    chart, values = req["chart"], req.get("values") or {}
    op = req["op"]
    if op == "lint":
        out = helm.lint(chart, values, strict=True, namespace="promote")
    elif op == "render":
        with helm.Chart.load(chart) as c:
            name = req.get("name", "promote")
            namespace = req.get("namespace", "promote")
            out = c.render(values, name=name, namespace=namespace, is_install=True)
    elif op == "validate":
        with helm.Chart.load(chart) as c:
            try:
                c.validate_schema(values)
                out = {"valid": True}
            except helm.HelmValuesError as exc:
                out = {"valid": False, "message": str(exc)}
    else:
        raise SystemExit(f"unknown op {op!r}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
