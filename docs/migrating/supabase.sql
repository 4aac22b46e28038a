-- Supabase Auth (auth.users) as usergraph's JSON lines. Hashes are bcrypt
-- ($2a$). user_metadata's full_name and avatar_url become the profile, the
-- rest metadata; app_metadata (without Supabase's own provider keys)
-- becomes appMetadata; a ban still running becomes SUSPENDED. Anonymous
-- users and users without an email (phone only) are left out.
--   psql "$SUPABASE_DB_URL" -Atf supabase.sql > users.jsonl
SELECT json_strip_nulls(json_build_object(
  'email', lower(u.email),
  'passwordHash', NULLIF(u.encrypted_password, ''),
  'name', u.raw_user_meta_data->>'full_name',
  'avatarUrl', u.raw_user_meta_data->>'avatar_url',
  'metadata', coalesce(u.raw_user_meta_data, '{}') - 'full_name' - 'avatar_url',
  'appMetadata', coalesce(u.raw_app_meta_data, '{}') - 'provider' - 'providers',
  'emailVerified', u.email_confirmed_at IS NOT NULL,
  'status', CASE WHEN u.banned_until > now() THEN 'SUSPENDED' ELSE 'ACTIVE' END,
  'externalId', u.id::text,
  'createdAt', u.created_at,
  'lastLoginAt', u.last_sign_in_at,
  'deletedAt', u.deleted_at
))::text
FROM auth.users u
WHERE u.email IS NOT NULL AND NOT coalesce(u.is_anonymous, false)
ORDER BY u.created_at, u.id;
