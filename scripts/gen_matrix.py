#!/usr/bin/env python3
"""Writes a large matrix (subjects x objects x actions cells) over Warden's seed policy, for
measuring `warden matrix check` speed. Usage: gen_matrix.py SUBJECTS OBJECTS > big.yaml
Expectations are list-form `allow` entries for the admin only plus a catch-all deny for one
subject, so every cell is evaluated and a few are checked."""
import sys

subjects, objects = int(sys.argv[1]), int(sys.argv[2])
roles = ["viewer", "editor", "auditor", "user", "admin"]
depts = ["eng", "sales", "audit", "hr"]
out = ["name: big", "subjects:"]
for i in range(subjects):
    # admins are cleared (3): below clearance 3 the seed's deny hides classification 3 from them
    clearance = 3 if roles[i % 5] == "admin" else i % 4
    out.append(f"  s{i}: {{roles: [{roles[i % 5]}], attributes: {{department: {depts[i % 4]}, clearance: {clearance}}}, "
               f"scopes: [documents:read, documents:write]}}")
out.append("objects:")
for j in range(objects):
    out.append(f"  o{j}: {{type: document, attributes: {{department: {depts[j % 4]}, owner: s{j % subjects}, classification: {j % 4}}}}}")
out.append("actions: [read, update, delete, create]")
out.append("routes: {read: GET /api/documents/:id, update: PUT /api/documents/:id, delete: DELETE /api/documents/:id, create: POST /api/documents}")
out.append("allow:\n  - [s4, \"*\", \"*\"]")
print("\n".join(out))
