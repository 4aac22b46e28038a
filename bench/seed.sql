-- Deterministic seed for the benchmark: :n users with roles and tiers.
-- Every id, name and time is a function of the row number, so two runs seed
-- identical tables. Passwords are set afterwards by run.py: the first 1,000
-- users get one real argon2 hash of a known password (never :n live hashings).
-- Every address is verified, as established accounts are (L2 enrols factors).
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO tiers (id, name, description, created_at) VALUES
  ('01900000-0000-7000-8000-00000000000a', 'free', 'Free plan', timestamptz '2025-01-01'),
  ('01900000-0000-7000-8000-00000000000b', 'pro', 'Paid plan', timestamptz '2025-01-01'),
  ('01900000-0000-7000-8000-00000000000c', 'enterprise', NULL, timestamptz '2025-01-01');

INSERT INTO users (id, username, email, password_hash, display_name, first_name, last_name,
                   avatar_url, website, facebook, instagram, linkedin, x, youtube,
                   status, is_superuser, tier_id, failed_login_count, locked_until,
                   password_changed_at, last_login_at, deleted_at, created_at, updated_at,
                   name_key, search_text, first_name_key, last_name_key, email_verified_at)
SELECT
  ('01910000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
  'user' || lpad(i::text, 7, '0'),
  'user' || lpad(i::text, 7, '0') || '@bench.example',
  'not-a-password-hash',
  NULL, 'First' || i, 'Last' || i,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  'active', false,
  CASE i % 3 WHEN 0 THEN '01900000-0000-7000-8000-00000000000a'::uuid
             WHEN 1 THEN '01900000-0000-7000-8000-00000000000b'::uuid END,
  0, NULL,
  timestamptz '2025-01-01' + i * interval '1 second', NULL,
  CASE WHEN i % 97 = 0 THEN timestamptz '2025-06-01' END,
  timestamptz '2025-01-01' + i * interval '1 second',
  timestamptz '2025-01-01' + i * interval '1 second',
  lower('First' || i || ' Last' || i),
  lower('user' || lpad(i::text, 7, '0') || ' user' || lpad(i::text, 7, '0') || '@bench.example first' || i || ' last' || i),
  lower('First' || i), lower('Last' || i),
  timestamptz '2025-01-01' + i * interval '1 second'
FROM generate_series(1, :n) AS i;

INSERT INTO user_roles (user_id, role_id, created_at)
SELECT u.id, r.id, u.created_at FROM users u JOIN roles r ON r.name = 'user'
WHERE u.username LIKE 'user%';
INSERT INTO user_roles (user_id, role_id, created_at)
SELECT u.id, r.id, u.created_at FROM users u JOIN roles r ON r.name = 'viewer'
WHERE u.username LIKE 'user%' AND right(u.username, 2)::int % 20 = 0;
COMMIT;
ANALYZE;
