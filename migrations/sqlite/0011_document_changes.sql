-- A counter every committed change to `documents` moves, by whichever process or connection
-- made it (triggers, so raw SQL counts too). Each instance caches document rows (store
-- documents.rs) and reads this counter on its heartbeat: when another instance sharing the
-- SQLite file changed a document, its cache is emptied within one heartbeat (250 ms).
CREATE TABLE document_changes (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL
);
INSERT INTO document_changes (id, count) VALUES (1, 0);
CREATE TRIGGER documents_changed_insert AFTER INSERT ON documents
BEGIN UPDATE document_changes SET count = count + 1 WHERE id = 1; END;
CREATE TRIGGER documents_changed_update AFTER UPDATE ON documents
BEGIN UPDATE document_changes SET count = count + 1 WHERE id = 1; END;
CREATE TRIGGER documents_changed_delete AFTER DELETE ON documents
BEGIN UPDATE document_changes SET count = count + 1 WHERE id = 1; END;
