#!/usr/bin/env python3
"""Prints the seed policy (policies/policy.csv) plus N generated rules, none of which applies to
the load script's requests: route rules, attribute rules and ownership rules for N/10 other
roles and resource types, in the shapes an ordinary company's policy has.
Usage: rules.py N > policy.csv"""
import pathlib, sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
seed = pathlib.Path(__file__).resolve().parents[2] / "policies" / "policy.csv"
print(seed.read_text().rstrip("\n"))
roles = max(1, n // 10)
for i in range(n):
    role = f"role:gen{i % roles}"
    shape = i % 3
    if shape == 0:
        print(f"p, {role}, /gen{i}/items/:id, GET, *, , allow")
    elif shape == 1:
        print(f'p, {role}, kind{i}, read, *, r.sub.department == "d{i}" && r.sub.clearance >= r.obj.classification, allow')
    else:
        print(f"p, {role}, kind{i}, update, *, r.obj.owner == r.sub.name, allow")
for r in range(roles):
    print(f"g, role:gen{r}, role:user")
