-- 0005: attributes of API keys and Basic users (keys create --attr team=billing): a JSON
-- object of strings with sorted keys, '' when there are none. They become the
-- principal's claims for route requirements and header mappings.
ALTER TABLE api_keys ADD COLUMN attributes TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '';
