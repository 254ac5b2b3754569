"""`breakglass rotate NAME`: one module per secret kind, plus consumers, env files, leaks."""
