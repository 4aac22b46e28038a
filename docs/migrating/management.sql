-- The user-management API of seed 003 (an Express app: users with one
-- role and a status; bcryptjs hashes, $2a$) as usergraph's JSON lines.
-- Its roles (admin, user, viewer) are usergraph's built-in ones.
--   psql "$SOURCE_DATABASE_URL" -Atf management.sql > users.jsonl
SELECT json_strip_nulls(json_build_object(
  'email', lower(u.email),
  'name', u.name,
  'passwordHash', u.password_hash,
  'avatarUrl', u.avatar,
  'status', upper(u.status),
  'roleNames', json_build_array(lower(u.role)),
  'externalId', u.id,
  'createdAt', u.created_at
))::text
FROM users u ORDER BY u.created_at, u.id;
