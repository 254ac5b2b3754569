"""Thin invoke tasks, one module per area. Each task parses arguments, builds what it needs,
calls the library and maps the outcome to an exit code. Keep imports of heavy SDKs (boto3,
psycopg, paramiko, apprise, sentry_sdk, pydantic) inside the task bodies: `breakglass --help`
imports every module here."""
