// The users filter builder's model: conditions combined with all/any, each
// one negatable, turned into the API's `UserFilter` (and/or/not) and kept in
// the URL as JSON so a filter can be bookmarked.
import type { UserFilter, UserStatus } from '../gql/graphql';

export const FIELDS = {
  search: 'Name, username or email contains',
  status: 'Status is',
  role: 'Holds role',
  emailVerified: 'Email verified',
  mfaEnabled: 'Second factor on',
  isStaff: 'Staff (admin role or superuser)',
  neverLoggedIn: 'Never signed in',
  metadata: 'appMetadata key equals',
} as const;

export type Field = keyof typeof FIELDS;

export const BOOLEAN_FIELDS: Field[] = ['emailVerified', 'mfaEnabled', 'isStaff', 'neverLoggedIn'];
export const STATUSES: UserStatus[] = ['ACTIVE', 'INACTIVE', 'SUSPENDED'];

export interface Condition {
  field: Field;
  value: string;
  /** For `metadata`: the top-level key. */
  key?: string;
  negate: boolean;
}

export interface Built {
  combine: 'and' | 'or';
  conditions: Condition[];
}

export const EMPTY: Built = { combine: 'and', conditions: [] };

function one(condition: Condition): UserFilter | null {
  const { field, value } = condition;
  let filter: UserFilter;
  switch (field) {
    case 'search':
    case 'role':
      if (!value.trim()) return null;
      filter = { [field]: value.trim() };
      break;
    case 'status':
      filter = { status: (STATUSES.includes(value as UserStatus) ? value : 'ACTIVE') as UserStatus };
      break;
    case 'metadata': {
      if (!condition.key?.trim()) return null;
      let equals: unknown = value;
      try {
        equals = JSON.parse(value);
      } catch {
        // A bare word is a string.
      }
      filter = { metadata: [{ key: condition.key.trim(), equals }] };
      break;
    }
    default:
      filter = { [field]: value !== 'false' };
  }
  return condition.negate ? { not: filter } : filter;
}

/** The API's filter for `built`; undefined when it has no condition. */
export function toUserFilter(built: Built): UserFilter | undefined {
  const parts = built.conditions.map(one).filter((f): f is UserFilter => f !== null);
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  return built.combine === 'and' ? { and: parts } : { or: parts };
}

export function parse(raw: string | null): Built {
  if (!raw) return EMPTY;
  try {
    const value = JSON.parse(raw) as { combine?: unknown; conditions?: unknown };
    if (!value || !Array.isArray(value.conditions)) return EMPTY;
    // A hand-edited or old link keeps only what is well formed.
    const conditions = (value.conditions as Record<string, unknown>[])
      .filter((c) => c && typeof c === 'object' && typeof c.field === 'string' && c.field in FIELDS)
      .map((c) => ({
        field: c.field as Field,
        value: typeof c.value === 'string' ? c.value : '',
        key: typeof c.key === 'string' ? c.key : undefined,
        negate: c.negate === true,
      }));
    return { combine: value.combine === 'or' ? 'or' : 'and', conditions };
  } catch {
    return EMPTY;
  }
}
