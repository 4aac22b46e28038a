-- fastapi_rbac (seed 001): users, roles and user_roles as usergraph's JSON
-- lines. Hashes are bcrypt ($2b$, passlib). Role names become usergraph's
-- (lower case, `-` for anything else); their permissions are given in
-- usergraph afterwards (updateRole), as the two models differ.
--   psql "$SOURCE_DATABASE_URL" -Atf rbac.sql > users.jsonl
SELECT line FROM (
  SELECT 0 AS part, r.name AS ord, json_strip_nulls(json_build_object('role', json_build_object(
    'name', trim(both '-' from regexp_replace(lower(r.name), '[^a-z0-9_.-]+', '-', 'g')),
    'description', r.description,
    'permissions', '[]'::json)))::text AS line
  FROM roles r
  UNION ALL
  SELECT 1, u.email, json_strip_nulls(json_build_object(
    'email', lower(u.email),
    'firstName', u.first_name,
    'lastName', u.last_name,
    'passwordHash', u.password,
    'status', CASE WHEN u.is_active THEN 'ACTIVE' ELSE 'INACTIVE' END,
    'isSuperuser', u.is_superuser,
    'emailVerified', u.is_verified,
    'externalId', u.id::text,
    'createdAt', u.created_at,
    'lastLoginAt', u.last_login,
    'roleNames', (SELECT json_agg(trim(both '-' from regexp_replace(lower(r.name), '[^a-z0-9_.-]+', '-', 'g')) ORDER BY r.name)
                  FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id)
  ))::text
  FROM users u
) lines ORDER BY part, ord;
