-- The blog API of seed 004 (users with profile links; bcrypt hashes) as
-- usergraph's JSON lines. `is_admin` becomes the built-in `admin` role.
--   psql "$SOURCE_DATABASE_URL" -Atf blog.sql > users.jsonl
SELECT json_strip_nulls(json_build_object(
  'email', lower(u.email),
  'username', lower(u.username),
  'firstName', u.first_name,
  'lastName', u.last_name,
  'passwordHash', u.password,
  'socialLinks', json_build_object('website', u.website, 'facebook', u.facebook,
                                   'instagram', u.instagram, 'linkedin', u.linkedin),
  'roleNames', CASE WHEN u.is_admin THEN json_build_array('admin', 'user') END,
  'externalId', u.id::text,
  'createdAt', u.created_at,
  'deletedAt', u.deleted_at
))::text
FROM users u ORDER BY u.id;
