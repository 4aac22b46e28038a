-- FastAPI boilerplate (benavlabs/FastAPI-boilerplate, seed 000): its "user"
-- and tier tables as usergraph's JSON lines. Hashes are bcrypt ($2b$).
--   psql "$SOURCE_DATABASE_URL" -Atf boilerplate.sql > users.jsonl
SELECT line FROM (
  SELECT 0 AS part, t.id AS ord,
         json_build_object('tier', json_build_object('name', t.name))::text AS line
  FROM tier t
  UNION ALL
  SELECT 1, u.id, json_strip_nulls(json_build_object(
    'email', lower(u.email),
    'username', lower(u.username),
    'name', u.name,
    'passwordHash', u.hashed_password,
    -- The boilerplate's placeholder image is no image.
    'avatarUrl', NULLIF(u.profile_image_url, 'https://profileimageurl.com'),
    'isSuperuser', u.is_superuser,
    'tierName', t.name,
    'externalId', u.uuid::text,
    'createdAt', u.created_at,
    'deletedAt', CASE WHEN u.is_deleted THEN coalesce(u.deleted_at, u.updated_at, now()) END
  ))::text
  FROM "user" u LEFT JOIN tier t ON t.id = u.tier_id
) lines ORDER BY part, ord;
