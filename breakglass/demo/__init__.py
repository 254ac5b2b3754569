"""`breakglass demo`: a sandbox that shows what breakglass does with nothing set up."""
