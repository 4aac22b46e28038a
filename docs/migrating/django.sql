-- Django (django.contrib.auth, seed 002): auth_user and its groups as
-- usergraph's JSON lines. Hashes are Django's own (pbkdf2_sha256$,
-- argon2$, bcrypt_sha256$, pbkdf2_sha1$); an unusable password (`!…`)
-- becomes none. Groups become roles; `is_staff` becomes the built-in
-- `admin` role (drop that line if your staff flag means less). A username
-- usergraph cannot take (2 to 20 of a-z 0-9 _ . -, and not one that
-- differs from an older user's only by case) is left out, and one is made
-- from the email. Users without an email are left out: usergraph needs one
-- (and Django does not keep emails unique: see the query below the guide).
--   psql "$SOURCE_DATABASE_URL" -Atf django.sql > users.jsonl
SELECT line FROM (
  SELECT 0 AS part, g.id AS ord, json_build_object('role', json_build_object(
    'name', trim(both '-' from regexp_replace(lower(g.name), '[^a-z0-9_.-]+', '-', 'g')),
    'permissions', '[]'::json))::text AS line
  FROM auth_group g
  UNION ALL
  SELECT 1, u.id, json_strip_nulls(json_build_object(
    'email', lower(u.email),
    'username', CASE WHEN lower(u.username) ~ '^[a-z0-9_.-]{2,20}$'
                      AND NOT EXISTS (SELECT 1 FROM auth_user o
                                      WHERE lower(o.username) = lower(u.username) AND o.id < u.id)
                     THEN lower(u.username) END,
    'firstName', NULLIF(u.first_name, ''),
    'lastName', NULLIF(u.last_name, ''),
    'passwordHash', CASE WHEN u.password <> '' AND u.password NOT LIKE '!%' THEN u.password END,
    'status', CASE WHEN u.is_active THEN 'ACTIVE' ELSE 'INACTIVE' END,
    'isSuperuser', u.is_superuser,
    'externalId', u.id::text,
    'createdAt', u.date_joined,
    'lastLoginAt', u.last_login,
    'roleNames', (SELECT json_agg(name ORDER BY name) FROM (
        SELECT trim(both '-' from regexp_replace(lower(g.name), '[^a-z0-9_.-]+', '-', 'g')) AS name
        FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id WHERE ug.user_id = u.id
        UNION SELECT 'user'
        UNION SELECT 'admin' WHERE u.is_staff) names)
  ))::text
  FROM auth_user u
  WHERE u.email <> ''
) lines ORDER BY part, ord;
