-- The demo's "production" database: a small multi-tenant SaaS schema with ~100k rows.
-- Generated in SQL (generate_series) so seeding takes about a second.

create table tenants (
  id bigserial primary key,
  slug text not null unique,
  name text not null,
  plan text not null check (plan in ('free', 'team', 'business')),
  created_at timestamptz not null default now()
);

create table users (
  id bigserial primary key,
  tenant_id bigint not null references tenants(id),
  email text not null unique,
  password_hash text not null,
  is_active boolean not null default true,
  is_admin boolean not null default false,
  profile jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index users_tenant_idx on users (tenant_id);

create table sessions (
  id bigserial primary key,
  user_id bigint not null references users(id),
  token_hash text not null unique,
  expires_at timestamptz not null,
  user_agent text
);
create index sessions_user_idx on sessions (user_id);

create table api_tokens (
  id bigserial primary key,
  user_id bigint not null references users(id),
  name text not null,
  token_hash text not null unique,
  revoked_at timestamptz
);

create table invoices (
  id bigserial primary key,
  tenant_id bigint not null references tenants(id),
  number text not null unique,
  amount_cents integer not null check (amount_cents >= 0),
  currency char(3) not null default 'EUR',
  status text not null,
  lines jsonb not null,
  issued_at timestamptz not null
);
create index invoices_tenant_issued_idx on invoices (tenant_id, issued_at);

insert into tenants (slug, name, plan, created_at)
select 'tenant-' || g, 'Tenant ' || g, (array['free','team','business'])[1 + g % 3],
       now() - (g || ' days')::interval
from generate_series(1, 500) g;

insert into users (tenant_id, email, password_hash, is_admin, profile, created_at)
select 1 + g % 500, 'user' || g || '@example.test',
       'pbkdf2_sha256$600000$' || md5(g::text), g % 97 = 0,
       jsonb_build_object('locale', (array['en','de','fr'])[1 + g % 3], 'seats', g % 12),
       now() - ((g % 900) || ' hours')::interval
from generate_series(1, 25000) g;

insert into sessions (user_id, token_hash, expires_at, user_agent)
select 1 + g % 25000, encode(sha256(('s' || g)::bytea), 'hex'),
       now() + ((g % 72) || ' hours')::interval, 'Mozilla/5.0 demo ' || (g % 40)
from generate_series(1, 30000) g;

insert into api_tokens (user_id, name, token_hash, revoked_at)
select 1 + g % 25000, 'token ' || g, encode(sha256(('t' || g)::bytea), 'hex'),
       case when g % 10 = 0 then now() - interval '3 days' end
from generate_series(1, 5000) g;

insert into invoices (tenant_id, number, amount_cents, status, lines, issued_at)
select 1 + g % 500, 'INV-' || lpad(g::text, 7, '0'), (g * 37) % 100000,
       (array['paid','open','void'])[1 + g % 3],
       jsonb_build_array(jsonb_build_object('sku', 'seat', 'qty', 1 + g % 9, 'unit', 1200)),
       now() - ((g % 720) || ' hours')::interval
from generate_series(1, 40000) g;

analyze;
