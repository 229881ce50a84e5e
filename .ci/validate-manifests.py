#!/usr/bin/env python3
"""Validates Kubernetes YAML offline: every object against the Kubernetes OpenAPI schemas of the given versions
(kubernetes-validate, strict: unknown fields are errors), plus the pod-level rules the schemas cannot express and
that a sidecar most easily breaks (the API server would reject these too): volume mounts naming a volume that
exists, unique container names, port names of at most 15 characters, probes naming a declared port, at most 3
nameservers and 32 search domains.

    validate-manifests.py --kubernetes-version 1.29.0 [--kubernetes-version ...] [--no-schema KIND] FILE...

Objects in a v1 List are validated one by one. A kind without a schema (a custom resource) fails unless named
with --no-schema. Prints one line per file; exits 1 on any failure.
"""
import argparse
import re
import sys

import kubernetes_validate
import yaml

POD_TEMPLATE_PATHS = {
    "Pod": [],
    "PodTemplate": ["template"],
    "ReplicationController": ["spec", "template"],
    "Deployment": ["spec", "template"],
    "StatefulSet": ["spec", "template"],
    "DaemonSet": ["spec", "template"],
    "ReplicaSet": ["spec", "template"],
    "Job": ["spec", "template"],
    "CronJob": ["spec", "jobTemplate", "spec", "template"],
}
PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$")


def objects(document):
    if isinstance(document, dict) and document.get("kind") == "List" and document.get("apiVersion") == "v1":
        for item in document.get("items") or []:
            yield from objects(item)
    elif document is not None:
        yield document


def pod_spec(obj):
    path = POD_TEMPLATE_PATHS.get(obj.get("kind"))
    if path is None or "/" in obj.get("apiVersion", "") and obj["apiVersion"].split("/")[0] not in ("apps", "batch"):
        return None
    node = obj
    for key in path + ["spec"]:
        node = (node or {}).get(key)
    return node


def pod_problems(spec):
    problems = []
    volumes = {v.get("name") for v in spec.get("volumes") or []}
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    names = [c.get("name") for c in containers]
    for name in set(names):
        if names.count(name) > 1:
            problems.append(f"container name {name} used twice")
    for c in containers:
        ports = set()
        for port in c.get("ports") or []:
            if "name" in port:
                if not PORT_NAME.match(port["name"]):
                    problems.append(f"container {c.get('name')}: port name {port['name']!r} is not an IANA service name of at most 15 characters")
                ports.add(port["name"])
        for mount in c.get("volumeMounts") or []:
            if mount.get("name") not in volumes:
                problems.append(f"container {c.get('name')}: volumeMount {mount.get('name')} names no volume")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
            if isinstance(port, str) and port not in ports:
                problems.append(f"container {c.get('name')}: {probe} uses port {port}, which it does not declare")
    for c in spec.get("containers") or []:
        if "restartPolicy" in c:
            problems.append(f"container {c.get('name')}: restartPolicy is for init containers only")
    dns = spec.get("dnsConfig") or {}
    if len(dns.get("nameservers") or []) > 3:
        problems.append("dnsConfig: more than 3 nameservers")
    if len(dns.get("searches") or []) > 32:
        problems.append("dnsConfig: more than 32 search domains")
    if spec.get("dnsPolicy") == "None" and not dns.get("nameservers"):
        problems.append("dnsPolicy None without dnsConfig.nameservers")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", action="append", required=True)
    parser.add_argument("--no-schema", action="append", default=[], help="KIND or APIVERSION/KIND that has no schema to check")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    failures = 0
    for filename in args.files:
        with open(filename) as stream:
            try:
                documents = list(yaml.safe_load_all(stream))
            except yaml.YAMLError as error:
                print(f"FAIL {filename}: not YAML: {error}")
                failures += 1
                continue
        kinds = []
        problems = []
        for obj in (o for d in documents for o in objects(d)):
            kinds.append(obj.get("kind", "?"))
            where = f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"
            for version in args.kubernetes_version:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.SchemaNotFoundError:
                    if obj.get("kind") not in args.no_schema and f"{obj.get('apiVersion')}/{obj.get('kind')}" not in args.no_schema:
                        problems.append(f"{where}: no schema for {obj.get('apiVersion')} {obj.get('kind')} in {version}")
                except kubernetes_validate.ValidationError as error:
                    path = ".".join(str(p) for p in error.path)
                    problems.append(f"{where} ({version}): {path}: {error.message}")
            spec = pod_spec(obj)
            if spec is not None:
                problems += [f"{where}: {p}" for p in pod_problems(spec)]
        if problems:
            failures += 1
            print(f"FAIL {filename}")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"ok   {filename}: {', '.join(kinds) or 'no objects'} against {', '.join(args.kubernetes_version)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
