-- Indexes for the plan-filtered document list (`GET /api/documents`, issue 25): the policy's
-- plan becomes a WHERE over department, classification and owner within the caller's tenant
-- (e.g. `department = 'eng' AND classification <= 2 OR owner = 'alice'`). Without them a
-- caller who may read 10 documents among 100,000 made the database scan every row in id
-- order; with them SQLite answers each side of the OR from an index (MULTI-INDEX OR) and
-- sorts the few rows found.
CREATE INDEX documents_tenant_owner ON documents (tenant, owner);
CREATE INDEX documents_tenant_department ON documents (tenant, department, classification);
