-- 0005: attributes of API keys and Basic users (the same records as SQLite's
-- 0005_attributes.sql): a JSON object of strings with sorted keys, '' when none.
ALTER TABLE api_keys ADD COLUMN attributes text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN attributes text NOT NULL DEFAULT '';
