-- Pictures and their full-text index. Files under the library root are the truth; this is an index.
-- `rowid` is explicit so the external-content FTS table can point at it.
CREATE TABLE pictures (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL UNIQUE,
    collection TEXT NOT NULL,
    created_at TEXT NOT NULL,
    model TEXT NOT NULL,
    model_hash TEXT,
    sampler TEXT NOT NULL,
    schedule_type TEXT NOT NULL,
    seed INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    guidance_scale REAL NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    negative_prompt TEXT NOT NULL,
    recipe_json TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    file_mtime_ns INTEGER NOT NULL
);

CREATE INDEX pictures_collection ON pictures (collection);
CREATE INDEX pictures_created_at ON pictures (created_at);
CREATE INDEX pictures_model ON pictures (model);
CREATE INDEX pictures_seed ON pictures (seed);

-- External content: the text lives once, in `pictures`; the triggers keep the index in step.
CREATE VIRTUAL TABLE pictures_fts USING fts5 (
    prompt, negative_prompt, model,
    content = 'pictures', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER pictures_fts_insert AFTER INSERT ON pictures BEGIN
    INSERT INTO pictures_fts (rowid, prompt, negative_prompt, model)
    VALUES (new.rowid, new.prompt, new.negative_prompt, new.model);
END;

CREATE TRIGGER pictures_fts_delete AFTER DELETE ON pictures BEGIN
    INSERT INTO pictures_fts (pictures_fts, rowid, prompt, negative_prompt, model)
    VALUES ('delete', old.rowid, old.prompt, old.negative_prompt, old.model);
END;

CREATE TRIGGER pictures_fts_update AFTER UPDATE OF prompt, negative_prompt, model ON pictures BEGIN
    INSERT INTO pictures_fts (pictures_fts, rowid, prompt, negative_prompt, model)
    VALUES ('delete', old.rowid, old.prompt, old.negative_prompt, old.model);
    INSERT INTO pictures_fts (rowid, prompt, negative_prompt, model)
    VALUES (new.rowid, new.prompt, new.negative_prompt, new.model);
END;
